// recall console: htmx may talk only to this origin; each table cell learns its column's
// name (data-label, shown before the value when tables stack on narrow screens).
document.addEventListener("DOMContentLoaded", function () {
  if (window.htmx) {
    htmx.config.selfRequestsOnly = true;
    htmx.config.allowScriptTags = false;
  }
  document.querySelectorAll("main table").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (heads[i] && cell.tagName === "TD") cell.setAttribute("data-label", heads[i].textContent.trim());
      });
    });
  });
});
