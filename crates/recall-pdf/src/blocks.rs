//! The blocks beyond text: tables fed row by row (header repeated on every page), a bar
//! chart of counts drawn as vector shapes, and the evidence page.

use std::io::Write;

use crate::{BODY, Document, Font, LEADING, LEFT, PdfError, TEXT_W};

/// Table text size and cell padding.
const CELL: f32 = 8.0;
const PAD: f32 = 3.0;

/// A table column: its title and its share of the text width (shares should add up to 1).
#[derive(Debug, Clone)]
pub struct Column {
    /// Header text.
    pub title: String,
    /// Fraction of the text width.
    pub share: f32,
}

impl Column {
    /// A column titled `title` taking `share` of the width.
    pub fn new(title: &str, share: f32) -> Self {
        Column {
            title: title.to_string(),
            share,
        }
    }
}

/// A table being written: each [`Table::row`] is laid out at once and its page leaves
/// when full. Ends when dropped (or with [`Table::end`]).
pub struct Table<'d, W: Write> {
    doc: &'d mut Document<W>,
    cols: Vec<Column>,
    rows: u64,
}

impl<'d, W: Write> Table<'d, W> {
    pub(crate) fn start(doc: &'d mut Document<W>, cols: Vec<Column>) -> Result<Self, PdfError> {
        // The header and at least one row together.
        doc.room(2.0 * (CELL * LEADING + 2.0 * PAD) + 4.0)?;
        header_row(doc, &cols);
        doc.set_repeat(Some(cols.clone()));
        Ok(Table { doc, cols, rows: 0 })
    }

    /// One row; cells beyond the columns are ignored, missing ones are empty. Long cells
    /// wrap within their column.
    pub fn row(&mut self, cells: &[&str]) -> Result<(), PdfError> {
        let mut wrapped = Vec::with_capacity(self.cols.len());
        for (i, col) in self.cols.iter().enumerate() {
            let text = cells.get(i).copied().unwrap_or("");
            let width = col.share * TEXT_W - 2.0 * PAD;
            let mut lines = self.doc.wrap(text, Font::Regular, CELL, width);
            lines.truncate(12);
            wrapped.push(lines);
        }
        let n = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let h = n as f32 * CELL * LEADING + 2.0 * PAD;
        self.doc.room(h)?;
        let top = self.doc.y();
        if self.rows % 2 == 1 {
            shade(self.doc, top - h, h, 0.95);
        }
        let mut x = LEFT;
        for (col, lines) in self.cols.iter().zip(&wrapped) {
            for (j, line) in lines.iter().enumerate() {
                let base = top - PAD - (j as f32 + 1.0) * CELL * LEADING + CELL * 0.3;
                self.doc.text(x + PAD, base, Font::Regular, CELL, line);
            }
            x += col.share * TEXT_W;
        }
        self.doc.space(h);
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Ends the table (leaves a little space after it).
    pub fn end(self) {}
}

impl<W: Write> Drop for Table<'_, W> {
    fn drop(&mut self) {
        self.doc.set_repeat(None);
        self.doc.space(8.0);
    }
}

/// The bold header row with a rule under it.
pub(crate) fn header_row<W: Write>(doc: &mut Document<W>, cols: &[Column]) {
    let h = CELL * LEADING + 2.0 * PAD;
    let top = doc.y();
    shade(doc, top - h, h, 0.85);
    let mut x = LEFT;
    for col in cols {
        let base = top - PAD - CELL * LEADING + CELL * 0.3;
        doc.text(x + PAD, base, Font::Bold, CELL, &col.title);
        x += col.share * TEXT_W;
    }
    doc.space(h);
}

/// A full-width grey band (table rows, headers).
fn shade<W: Write>(doc: &mut Document<W>, y: f32, h: f32, grey: f32) {
    doc.content()
        .save_state()
        .set_fill_rgb(grey, grey, grey)
        .rect(LEFT, y, TEXT_W, h)
        .fill_nonzero()
        .restore_state();
}

/// Counts over consecutive periods, one bar each, labelled under the axis.
pub struct BarChart<'a> {
    /// Caption above the chart.
    pub title: &'a str,
    /// (period label, count), oldest first.
    pub bars: &'a [(String, u64)],
}

const CHART_H: f32 = 120.0;

impl<W: Write> Document<W> {
    /// A bar chart of counts over time, as vector shapes (axis, bars, labels).
    pub fn bar_chart(&mut self, chart: &BarChart<'_>) -> Result<(), PdfError> {
        let label = 7.0;
        self.room(BODY * LEADING + CHART_H + 3.0 * label + 10.0)?;
        self.lines(chart.title, Font::Bold, BODY, 0.0)?;
        self.space(6.0);
        let max = chart.bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
        let top_label = max.to_string();
        let axis_x = LEFT + self.width(&top_label, Font::Regular, label) + 6.0;
        let (top, base) = (self.y(), self.y() - CHART_H);
        let plot_w = LEFT + TEXT_W - axis_x;
        let slot = plot_w / chart.bars.len().max(1) as f32;
        // Label every k-th bar so that labels never overlap.
        let widest = chart
            .bars
            .iter()
            .map(|b| self.width(&b.0, Font::Regular, label))
            .fold(0.0, f32::max);
        let every = ((widest + 4.0) / slot).ceil().max(1.0) as usize;
        {
            let c = self.content();
            c.save_state().set_fill_rgb(0.27, 0.45, 0.66);
            for (i, (_, n)) in chart.bars.iter().enumerate() {
                let h = CHART_H * (*n as f32) / (max as f32);
                c.rect(axis_x + i as f32 * slot + slot * 0.15, base, slot * 0.7, h);
            }
            c.fill_nonzero();
            c.set_stroke_rgb(0.3, 0.3, 0.3).set_line_width(0.6);
            c.move_to(axis_x, top)
                .line_to(axis_x, base)
                .line_to(LEFT + TEXT_W, base);
            c.stroke().restore_state();
        }
        self.text(LEFT, top - label, Font::Regular, label, &top_label);
        self.text(LEFT, base, Font::Regular, label, "0");
        for (i, (name, _)) in chart.bars.iter().enumerate().step_by(every) {
            let w = self.width(name, Font::Regular, label);
            let x = axis_x + i as f32 * slot + (slot - w) / 2.0;
            self.text(
                x.max(axis_x),
                base - label - 3.0,
                Font::Regular,
                label,
                name,
            );
        }
        self.space(CHART_H + label + 14.0);
        Ok(())
    }
}

/// What the evidence page shows.
pub struct Evidence<'a> {
    /// The signed checkpoint (C2SP signed note) the document was read at, verbatim.
    pub checkpoint: &'a str,
    /// The tree size of that checkpoint.
    pub tree_size: u64,
    /// The SHA-256 (hex) that identifies the document's content.
    pub sha256: &'a str,
    /// What the digest covers and how to re-check it, in plain words.
    pub covers: &'a str,
}

impl<W: Write> Document<W> {
    /// The evidence page: a new page with the tree size, the digest, what it covers, and
    /// the signed checkpoint verbatim (in a fixed-width face, line by line).
    pub fn evidence(&mut self, ev: &Evidence<'_>) -> Result<(), PdfError> {
        self.page_break()?;
        self.heading("Evidence")?;
        let size = ev.tree_size.to_string();
        self.key_values(&[("Tree size", &size)])?;
        self.lines("SHA-256", Font::Bold, BODY, 0.0)?;
        self.lines(ev.sha256, Font::Mono, 8.5, 0.0)?;
        self.space(6.0);
        self.paragraph(ev.covers)?;
        self.heading("Signed checkpoint")?;
        for line in ev.checkpoint.lines() {
            self.lines(line, Font::Mono, 7.0, 0.0)?;
        }
        Ok(())
    }
}
