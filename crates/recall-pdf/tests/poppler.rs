//! Documents checked by third-party readers: qpdf's structural check, poppler's text
//! extraction and metadata. Also: pages leave for the output while rows are still being
//! added (the memory bound of a streamed table).
#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;

use recall_pdf::{BarChart, Column, Document, Evidence, Meta};
use recall_testkit::pdf::{checked_text, pdf_tools, tool_output};

/// Counts the bytes that reached the output.
struct Counting(Rc<Cell<u64>>, Vec<u8>);

impl Write for Counting {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.set(self.0.get() + b.len() as u64);
        self.1.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn meta() -> Meta<'static> {
    Meta {
        title: "Synthetic report",
        author: "recall test",
        subject: "a test document",
        created: "2026-03-04T05:06:07Z".parse().unwrap(),
    }
}

#[test]
fn a_long_table_is_valid_extractable_and_streamed() {
    let written = Rc::new(Cell::new(0));
    let mut doc = Document::new(Counting(written.clone(), Vec::new()), &meta()).unwrap();
    doc.title("Synthetic report — Ünïcode ✓").unwrap();
    doc.key_values(&[("Period", "2026-01-01 to 2026-04-01"), ("Produced", "now")])
        .unwrap();
    doc.paragraph(&"A long paragraph that wraps across lines. ".repeat(12))
        .unwrap();
    let bars: Vec<(String, u64)> = (1..=30).map(|d| (format!("03-{d:02}"), d % 7)).collect();
    doc.bar_chart(&BarChart {
        title: "Accesses per day",
        bars: &bars,
    })
    .unwrap();
    let mut after_first_rows = 0;
    {
        let cols = [Column::new("Row", 0.2), Column::new("Text", 0.8)];
        let mut t = doc.table(&cols).unwrap();
        for i in 0..2000 {
            t.row(&[
                &format!("row-{i:05}"),
                "some cell text that is long enough to wrap when the column is narrow",
            ])
            .unwrap();
            if i == 999 {
                after_first_rows = written.get();
            }
        }
    }
    doc.evidence(&Evidence {
        checkpoint: "example.org/log\n42\nAAAA=\n\n\u{2014} example.org/log sig=\n",
        tree_size: 42,
        sha256: &"ab".repeat(32),
        covers: "The digest covers the test content.",
    })
    .unwrap();
    let out = doc.finish().unwrap().1;
    if let Ok(p) = std::env::var("RECALL_PDF_KEEP") {
        std::fs::write(p, &out).unwrap();
    }
    // Half the rows in, most of their pages had already left.
    assert!(
        after_first_rows > out.len() as u64 / 4,
        "{after_first_rows} of {}",
        out.len()
    );
    if !pdf_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pdf");
    std::fs::write(&path, &out).unwrap();
    let text = checked_text(&path);
    for i in [0, 999, 1999] {
        assert!(text.contains(&format!("row-{i:05}")), "row {i} missing");
    }
    assert!(text.contains("Ünïcode ✓"));
    assert!(text.contains(&"ab".repeat(32)));
    // The header row repeats on every page the table spans.
    let pages = text.matches("Synthetic report · page").count();
    assert!(
        text.matches("Row").count() >= pages - 2,
        "header not repeated"
    );
    let info = tool_output("pdfinfo", &path);
    let field = |k: &str| {
        let line = info.lines().find(|l| l.starts_with(k)).unwrap_or_default();
        line[k.len()..].trim().to_string()
    };
    assert_eq!(field("Title:"), "Synthetic report", "{info}");
    assert_eq!(field("Pages:"), pages.to_string(), "{info}");
    let fonts = tool_output("pdffonts", &path);
    // Every face embedded (emb), subset (sub) and with a ToUnicode map (uni).
    for line in fonts.lines().filter(|l| l.contains("DejaVu")) {
        assert!(line.contains("yes yes yes"), "{line}");
    }
}
