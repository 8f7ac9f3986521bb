//! recall's PDF documents, written as they are laid out: each page goes to the output as
//! soon as it is full, so a report of any length needs memory for one page (plus one
//! offset per PDF object and the glyphs used), not for its rows. No external program;
//! text is set in embedded DejaVu faces, subset to the glyphs used, with a `ToUnicode`
//! map, so `pdftotext` and screen readers get the words back.
//!
//! Built on `pdf-writer` (the low-level writer under typst and krilla) rather than a
//! whole-document layout engine: those hold every page until the end; see
//! docs/design/reports-pdf.md for the comparison.
//!
//! # Use
//!
//! ```
//! use recall_pdf::{BarChart, Column, Document, Evidence, Meta};
//! let meta = Meta { title: "Access report", author: "recall", subject: "example",
//!     created: jiff::Timestamp::UNIX_EPOCH };
//! let mut doc = Document::new(Vec::new(), &meta)?;
//! doc.title("Access report")?;
//! doc.key_values(&[("Period", "2026-01-01 to 2026-02-01"), ("Produced by", "privacy officer")])?;
//! doc.paragraph("Every access to the record in the period, oldest first.")?;
//! doc.bar_chart(&BarChart { title: "Accesses per month", bars: &[("Jan".into(), 3), ("Feb".into(), 5)] })?;
//! let mut table = doc.table(&[Column::new("When", 0.3), Column::new("Who", 0.7)])?;
//! for i in 0..100 {
//!     table.row(&["2026-01-02 10:00", &format!("clinician {i}")])?; // streamed, page by page
//! }
//! table.end(); // ends the table (so does dropping it)
//! doc.evidence(&Evidence { checkpoint: "origin\n1\nroot=\n", tree_size: 1,
//!     sha256: "00", covers: "what the digest covers" })?;
//! let pdf: Vec<u8> = doc.finish()?;
//! assert!(pdf.starts_with(b"%PDF-1.7"));
//! # Ok::<(), recall_pdf::PdfError>(())
//! ```
//!
//! Blocks (`heading`, `paragraph`, `key_values`, `bar_chart`, table rows) start a new
//! page when they do not fit; a table repeats its header row on every page it spans.

#![forbid(unsafe_code)]

mod blocks;
mod fonts;
mod writer;

use std::io::Write;

use pdf_writer::{Chunk, Content, Name, Rect, Ref, Str};

pub use blocks::{BarChart, Column, Evidence, Table};
use fonts::Face;
pub use fonts::Font;
use writer::{Fixed, Info, Out};

/// What can go wrong while writing a document.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The output could not be written.
    #[error("writing the PDF: {0}")]
    Io(#[from] std::io::Error),
    /// An embedded font could not be read or subset.
    #[error("PDF font: {0}")]
    Font(&'static str),
}

/// The document's metadata (the PDF information dictionary).
pub struct Meta<'a> {
    /// Title, also in every page's footer.
    pub title: &'a str,
    /// Who produced it.
    pub author: &'a str,
    /// What it is about (no identifiers: viewers show it in lists).
    pub subject: &'a str,
    /// When it was produced.
    pub created: jiff::Timestamp,
}

/// A4 in points, and the margins.
const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 50.0;
const BOTTOM: f32 = 60.0;
pub(crate) const TEXT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Body text size and line height.
pub(crate) const BODY: f32 = 9.5;
pub(crate) const LEADING: f32 = 1.35;

/// A document being written. Pages leave for the output as they fill.
pub struct Document<W: Write> {
    out: Out<W>,
    fixed: Fixed,
    faces: Vec<Face>,
    pages: Vec<Ref>,
    /// The page being laid out: its content and the baseline of the next line.
    content: Content,
    y: f32,
    title: String,
    info: (String, String, pdf_writer::Date),
    /// The header of the table being written, repeated on each new page.
    repeat: Option<Vec<Column>>,
}

impl<W: Write> Document<W> {
    /// Starts a document on `out`.
    pub fn new(out: W, meta: &Meta<'_>) -> Result<Self, PdfError> {
        let mut out = Out::new(out)?;
        let fixed = Fixed {
            catalog: out.alloc(),
            info: out.alloc(),
            pages: out.alloc(),
            resources: out.alloc(),
            fonts: [out.alloc(), out.alloc(), out.alloc()],
        };
        let faces = Font::ALL
            .iter()
            .map(|&f| Face::load(f))
            .collect::<Result<_, _>>()?;
        Ok(Document {
            out,
            fixed,
            faces,
            pages: Vec::new(),
            content: Content::new(),
            y: PAGE_H - MARGIN,
            title: meta.title.to_string(),
            info: (
                meta.author.to_string(),
                meta.subject.to_string(),
                date(meta.created),
            ),
            repeat: None,
        })
    }

    /// The document's title, large, at the top of the current page.
    pub fn title(&mut self, text: &str) -> Result<(), PdfError> {
        self.lines(text, Font::Bold, 17.0, 0.0)?;
        self.space(6.0);
        Ok(())
    }

    /// A section heading.
    pub fn heading(&mut self, text: &str) -> Result<(), PdfError> {
        // Keep a heading with at least three lines of what follows it.
        self.room(12.0 * LEADING + 8.0 + 3.0 * BODY * LEADING)?;
        self.space(8.0);
        self.lines(text, Font::Bold, 12.0, 0.0)?;
        self.space(3.0);
        Ok(())
    }

    /// A paragraph of body text, wrapped to the page width.
    pub fn paragraph(&mut self, text: &str) -> Result<(), PdfError> {
        self.lines(text, Font::Regular, BODY, 0.0)?;
        self.space(5.0);
        Ok(())
    }

    /// Text in a given face and size, wrapped, starting `indent` points in.
    pub fn lines(
        &mut self,
        text: &str,
        font: Font,
        size: f32,
        indent: f32,
    ) -> Result<(), PdfError> {
        for line in self.wrap(text, font, size, TEXT_W - indent) {
            self.room(size * LEADING)?;
            self.y -= size * LEADING;
            self.text(MARGIN + indent, self.y + size * 0.25, font, size, &line);
        }
        Ok(())
    }

    /// Labelled values, one per line: the label in bold, the value wrapped beside it.
    pub fn key_values(&mut self, pairs: &[(&str, &str)]) -> Result<(), PdfError> {
        let label_w = pairs
            .iter()
            .map(|(k, _)| self.width(k, Font::Bold, BODY))
            .fold(0.0, f32::max)
            .min(TEXT_W * 0.4)
            + 12.0;
        for (k, v) in pairs {
            let lines = self.wrap(v, Font::Regular, BODY, TEXT_W - label_w);
            for (i, line) in lines.iter().enumerate() {
                self.room(BODY * LEADING)?;
                self.y -= BODY * LEADING;
                let base = self.y + BODY * 0.25;
                if i == 0 {
                    self.text(MARGIN, base, Font::Bold, BODY, k);
                }
                self.text(MARGIN + label_w, base, Font::Regular, BODY, line);
            }
        }
        self.space(6.0);
        Ok(())
    }

    /// Starts a table; feed it rows one at a time.
    pub fn table(&mut self, columns: &[Column]) -> Result<Table<'_, W>, PdfError> {
        Table::start(self, columns.to_vec())
    }

    /// Ends the current page; the next block starts a new one.
    pub fn page_break(&mut self) -> Result<(), PdfError> {
        if !self.page_is_empty() {
            self.end_page()?;
        }
        Ok(())
    }

    /// Writes the rest of the document (fonts, page tree, cross-references) and returns
    /// the output.
    pub fn finish(mut self) -> Result<W, PdfError> {
        if !self.page_is_empty() || self.pages.is_empty() {
            self.end_page()?;
        }
        let (author, subject, created) = &self.info;
        let info = Info {
            title: &self.title,
            author,
            subject,
            created: *created,
        };
        self.out
            .finish(&self.fixed, &self.faces, &self.pages, &info)
    }

    // --- layout primitives shared with `blocks` ---

    pub(crate) fn face(&mut self, font: Font) -> &mut Face {
        &mut self.faces[font.index()]
    }

    pub(crate) fn width(&mut self, text: &str, font: Font, size: f32) -> f32 {
        self.face(font).width(text, size)
    }

    /// Draws one line of text with its baseline at `y`.
    pub(crate) fn text(&mut self, x: f32, y: f32, font: Font, size: f32, text: &str) {
        let bytes = self.face(font).encode(text);
        self.content
            .begin_text()
            .set_font(Name(font.resource()), size)
            .set_text_matrix([1.0, 0.0, 0.0, 1.0, x, y])
            .show(Str(&bytes))
            .end_text();
    }

    pub(crate) fn content(&mut self) -> &mut Content {
        &mut self.content
    }

    /// The baseline position of the next line (points from the page's bottom).
    pub(crate) fn y(&self) -> f32 {
        self.y
    }

    /// Moves down by `h` points, without a page break.
    pub(crate) fn space(&mut self, h: f32) {
        self.y -= h;
    }

    /// Makes sure `h` points fit above the bottom margin, starting a new page (and
    /// repeating the current table's header) when they do not.
    pub(crate) fn room(&mut self, h: f32) -> Result<(), PdfError> {
        if self.y - h >= BOTTOM || self.page_is_empty() {
            return Ok(());
        }
        self.end_page()?;
        if let Some(cols) = self.repeat.clone() {
            blocks::header_row(self, &cols);
        }
        Ok(())
    }

    pub(crate) fn set_repeat(&mut self, cols: Option<Vec<Column>>) {
        self.repeat = cols;
    }

    fn page_is_empty(&self) -> bool {
        self.y >= PAGE_H - MARGIN
    }

    /// Greedy word wrap; a word longer than the width is cut.
    pub(crate) fn wrap(&mut self, text: &str, font: Font, size: f32, width: f32) -> Vec<String> {
        let face = self.face(font);
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            for word in para.split(' ') {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if face.width(&candidate, size) <= width {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                for c in word.chars() {
                    line.push(c);
                    if face.width(&line, size) > width {
                        line.pop();
                        lines.push(std::mem::replace(&mut line, c.to_string()));
                    }
                }
            }
            lines.push(line);
        }
        lines
    }

    /// Writes the page (footer, content stream, page object) and starts the next.
    fn end_page(&mut self) -> Result<(), PdfError> {
        let footer = format!("{} \u{b7} page {}", self.title, self.pages.len() + 1);
        let w = self.width(&footer, Font::Regular, 7.5);
        self.content.set_fill_rgb(0.4, 0.4, 0.4);
        self.text((PAGE_W - w) / 2.0, 30.0, Font::Regular, 7.5, &footer);
        let content = std::mem::replace(&mut self.content, Content::new()).finish();
        let (page, stream) = (self.out.alloc(), self.out.alloc());
        self.out.stream(stream, &content)?;
        let mut c = Chunk::new();
        c.page(page)
            .parent(self.fixed.pages)
            .media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .contents(stream)
            .pair(Name(b"Resources"), self.fixed.resources);
        self.out.put(page, &c)?;
        self.pages.push(page);
        self.y = PAGE_H - MARGIN;
        Ok(())
    }
}

/// The left margin, for blocks.
pub(crate) const LEFT: f32 = MARGIN;

fn date(t: jiff::Timestamp) -> pdf_writer::Date {
    let d = t.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let b = |v: i8| u8::try_from(v).unwrap_or(0);
    pdf_writer::Date::new(u16::try_from(d.year()).unwrap_or(1970))
        .month(b(d.month()))
        .day(b(d.day()))
        .hour(b(d.hour()))
        .minute(b(d.minute()))
        .second(b(d.second()))
        .utc_offset_hour(0)
        .utc_offset_minute(0)
}
