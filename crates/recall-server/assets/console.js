// recall console: htmx may talk only to this origin; nothing else runs on every page.
document.addEventListener("DOMContentLoaded", function () {
  if (window.htmx) {
    htmx.config.selfRequestsOnly = true;
    htmx.config.allowScriptTags = false;
  }
});
