//! The embedded faces (DejaVu Sans, Sans Bold, Sans Mono; licence in `fonts/LICENSE`) and
//! how text becomes glyphs: a character is mapped through the face's `cmap`, its glyph is
//! given the next id of the subset on first use, and the text is written as two-byte CIDs
//! (Identity-H) of the subset. Only the glyphs used are embedded, at the end of the
//! document; the `ToUnicode` map written with them keeps the text extractable.
//!
//! Invariant: a glyph's subset id never changes once given, so pages written earlier stay
//! valid when later pages use new glyphs.

use std::collections::BTreeMap;

use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};
use subsetter::GlyphRemapper;

use crate::PdfError;

/// Which face to set text in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    /// DejaVu Sans.
    Regular,
    /// DejaVu Sans Bold.
    Bold,
    /// DejaVu Sans Mono (digests, signed notes).
    Mono,
}

impl Font {
    pub(crate) const ALL: [Font; 3] = [Font::Regular, Font::Bold, Font::Mono];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The resource name pages use for this face.
    pub(crate) fn resource(self) -> &'static [u8] {
        match self {
            Font::Regular => b"F1",
            Font::Bold => b"F2",
            Font::Mono => b"F3",
        }
    }

    fn data(self) -> &'static [u8] {
        match self {
            Font::Regular => include_bytes!("../fonts/DejaVuSans.ttf"),
            Font::Bold => include_bytes!("../fonts/DejaVuSans-Bold.ttf"),
            Font::Mono => include_bytes!("../fonts/DejaVuSansMono.ttf"),
        }
    }

    /// PostScript name of the subset (the six-letter tag marks a subset, ISO 32000 9.6.4).
    pub(crate) fn base_name(self) -> &'static [u8] {
        match self {
            Font::Regular => b"RCLAAA+DejaVuSans",
            Font::Bold => b"RCLAAB+DejaVuSans-Bold",
            Font::Mono => b"RCLAAC+DejaVuSansMono",
        }
    }
}

/// One face: its metrics and the subset built so far.
pub(crate) struct Face {
    pub(crate) font: Font,
    data: &'static [u8],
    upem: f32,
    /// Ascent, descent and cap height in font units.
    pub(crate) ascent: f32,
    pub(crate) descent: f32,
    pub(crate) cap_height: f32,
    remapper: GlyphRemapper,
    /// Subset glyph id → (character, advance in 1/1000 em).
    used: BTreeMap<u16, (char, f32)>,
    /// Advance of each original glyph id in 1/1000 em, looked up once per character.
    advance: BTreeMap<char, (u16, f32)>,
}

impl Face {
    pub(crate) fn load(font: Font) -> Result<Self, PdfError> {
        let data = font.data();
        let f = FontRef::new(data).map_err(|_| PdfError::Font("unreadable embedded font"))?;
        let m = f.metrics(Size::unscaled(), LocationRef::default());
        let upem = f32::from(m.units_per_em);
        Ok(Face {
            font,
            data,
            upem,
            ascent: m.ascent,
            descent: m.descent,
            cap_height: m.cap_height.unwrap_or(m.ascent * 0.7),
            remapper: GlyphRemapper::new(),
            used: BTreeMap::new(),
            advance: BTreeMap::new(),
        })
    }

    /// Original glyph id and advance (1/1000 em) of `c`; characters the face lacks are
    /// shown as `?`.
    fn glyph(&mut self, c: char) -> (u16, f32) {
        if let Some(&g) = self.advance.get(&c) {
            return g;
        }
        let f = FontRef::new(self.data).ok();
        let look = |c: char| {
            let f = f.as_ref()?;
            let gid = f.charmap().map(c)?;
            let adv = f
                .glyph_metrics(Size::unscaled(), LocationRef::default())
                .advance_width(gid)?;
            Some((u16::try_from(gid.to_u32()).ok()?, adv * 1000.0 / self.upem))
        };
        let g = look(c).or_else(|| look('?')).unwrap_or((0, 500.0));
        self.advance.insert(c, g);
        g
    }

    /// Width of `text` at `size` points.
    pub(crate) fn width(&mut self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.glyph(c).1).sum::<f32>() * size / 1000.0
    }

    /// `text` as two-byte subset glyph ids, registering new glyphs in the subset.
    pub(crate) fn encode(&mut self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() * 2);
        for c in text.chars() {
            let c = if c.is_control() { ' ' } else { c };
            let (gid, adv) = self.glyph(c);
            let new = self.remapper.remap(gid);
            self.used.entry(new).or_insert((c, adv));
            out.extend_from_slice(&new.to_be_bytes());
        }
        out
    }

    /// The subset font program (TrueType, every glyph used so far).
    pub(crate) fn subset(&self) -> Result<Vec<u8>, PdfError> {
        subsetter::subset(self.data, 0, &self.remapper)
            .map_err(|_| PdfError::Font("font subsetting failed"))
    }

    /// Subset glyph id → (character, advance), in id order.
    pub(crate) fn used(&self) -> &BTreeMap<u16, (char, f32)> {
        &self.used
    }

    /// Glyph count of the subset.
    pub(crate) fn glyphs(&self) -> u16 {
        self.remapper.num_gids()
    }

    /// Font units → 1/1000 em.
    pub(crate) fn em(&self, units: f32) -> f32 {
        units * 1000.0 / self.upem
    }
}
