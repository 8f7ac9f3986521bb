//! The file itself: objects written to the output as soon as they are complete (a page
//! and its content stream when the page is full), their byte offsets kept for the
//! cross-reference table; at the end the fonts (subset to the glyphs used), the page tree,
//! the catalog, the document information and the table.
//!
//! What stays in memory is the offsets (one number per object, two objects per page) and
//! the page ids: nothing grows with the rows of a table.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::writers::{Catalog, DocumentInfo};
use pdf_writer::{Chunk, Filter, Finish, Name, Rect, Ref, Str, TextStr};

use crate::PdfError;
use crate::fonts::{Face, Font};

/// Object ids allocated before the pages: the tree, the resources and each face's objects.
pub(crate) struct Fixed {
    pub(crate) catalog: Ref,
    pub(crate) info: Ref,
    pub(crate) pages: Ref,
    pub(crate) resources: Ref,
    /// Type0 font dictionary of each face, in `Font::ALL` order.
    pub(crate) fonts: [Ref; 3],
}

/// The output, its position, and the offset of every object written.
pub(crate) struct Out<W: Write> {
    w: W,
    pos: u64,
    /// Offset of object `i + 1` (`None`: allocated, not yet written).
    offsets: Vec<Option<u64>>,
}

impl<W: Write> Out<W> {
    pub(crate) fn new(mut w: W) -> Result<Self, PdfError> {
        // The binary comment line marks the file as binary for transfer programs.
        let head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
        w.write_all(head)?;
        Ok(Out {
            w,
            pos: head.len() as u64,
            offsets: Vec::new(),
        })
    }

    /// A fresh object id.
    pub(crate) fn alloc(&mut self) -> Ref {
        self.offsets.push(None);
        Ref::new(self.offsets.len() as i32)
    }

    /// Writes a chunk holding exactly one object, `id`.
    pub(crate) fn put(&mut self, id: Ref, chunk: &Chunk) -> Result<(), PdfError> {
        let slot = usize::try_from(id.get() - 1).map_err(|_| PdfError::Font("bad object id"))?;
        self.offsets[slot] = Some(self.pos);
        self.w.write_all(chunk.as_bytes())?;
        self.pos += chunk.len() as u64;
        Ok(())
    }

    /// A Flate-compressed stream object.
    pub(crate) fn stream(&mut self, id: Ref, data: &[u8]) -> Result<(), PdfError> {
        let packed = deflate(data)?;
        let mut c = Chunk::new();
        c.stream(id, &packed).filter(Filter::FlateDecode);
        self.put(id, &c)
    }

    /// Writes the fonts, the page tree, catalog, information and the cross-reference
    /// table; returns the output.
    pub(crate) fn finish(
        mut self,
        fixed: &Fixed,
        faces: &[Face],
        pages: &[Ref],
        info: &Info<'_>,
    ) -> Result<W, PdfError> {
        for (face, &id) in faces.iter().zip(&fixed.fonts) {
            self.font(face, id)?;
        }
        let mut c = Chunk::new();
        let mut res = c
            .indirect(fixed.resources)
            .start::<pdf_writer::writers::Resources>();
        let mut fonts = res.fonts();
        for (f, &id) in Font::ALL.iter().zip(&fixed.fonts) {
            fonts.pair(Name(f.resource()), id);
        }
        fonts.finish();
        res.finish();
        self.put(fixed.resources, &c)?;

        let mut c = Chunk::new();
        c.pages(fixed.pages)
            .kids(pages.iter().copied())
            .count(pages.len() as i32);
        self.put(fixed.pages, &c)?;

        let mut c = Chunk::new();
        c.indirect(fixed.catalog)
            .start::<Catalog>()
            .pages(fixed.pages);
        self.put(fixed.catalog, &c)?;

        let mut c = Chunk::new();
        let mut d = c.indirect(fixed.info).start::<DocumentInfo>();
        d.title(TextStr(info.title))
            .author(TextStr(info.author))
            .subject(TextStr(info.subject))
            .creator(TextStr("recall"))
            .producer(TextStr("recall-pdf (pdf-writer)"))
            .creation_date(info.created);
        d.finish();
        self.put(fixed.info, &c)?;
        self.xref(fixed)
    }

    fn font(&mut self, face: &Face, type0: Ref) -> Result<(), PdfError> {
        let (cid, desc, file, cmap) = (self.alloc(), self.alloc(), self.alloc(), self.alloc());
        let name = Name(face.font.base_name());
        let system = SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        };
        let mut c = Chunk::new();
        c.type0_font(type0)
            .base_font(name)
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid)
            .to_unicode(cmap);
        self.put(type0, &c)?;

        let mut c = Chunk::new();
        let mut f = c.cid_font(cid);
        f.subtype(CidFontType::Type2)
            .base_font(name)
            .system_info(system)
            .font_descriptor(desc)
            .default_width(0.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        let mut widths = vec![0.0; usize::from(face.glyphs())];
        for (&gid, &(_, adv)) in face.used() {
            widths[usize::from(gid)] = adv;
        }
        f.widths().consecutive(0, widths);
        f.finish();
        self.put(cid, &c)?;

        let mut c = Chunk::new();
        let flags = match face.font {
            Font::Mono => FontFlags::NON_SYMBOLIC | FontFlags::FIXED_PITCH,
            _ => FontFlags::NON_SYMBOLIC,
        };
        c.font_descriptor(desc)
            .name(name)
            .flags(flags)
            .bbox(Rect::new(
                -1000.0,
                face.em(face.descent),
                2000.0,
                face.em(face.ascent),
            ))
            .italic_angle(0.0)
            .ascent(face.em(face.ascent))
            .descent(face.em(face.descent))
            .cap_height(face.em(face.cap_height))
            .stem_v(if face.font == Font::Bold { 140.0 } else { 80.0 })
            .font_file2(file);
        self.put(desc, &c)?;

        let program = face.subset()?;
        let packed = deflate(&program)?;
        let mut c = Chunk::new();
        c.stream(file, &packed)
            .filter(Filter::FlateDecode)
            .pair(Name(b"Length1"), program.len() as i32);
        self.put(file, &c)?;

        let mut map = pdf_writer::types::UnicodeCmap::new(Name(b"Recall-UCS"), system);
        for (&gid, &(ch, _)) in face.used() {
            map.pair(gid, ch);
        }
        let bytes = map.finish();
        let mut c = Chunk::new();
        c.cmap(cmap, &bytes);
        self.put(cmap, &c)
    }

    fn xref(mut self, fixed: &Fixed) -> Result<W, PdfError> {
        let start = self.pos;
        let n = self.offsets.len() + 1;
        let mut t = format!("xref\n0 {n}\n0000000000 65535 f\r\n");
        for off in &self.offsets {
            match off {
                Some(o) => t.push_str(&format!("{o:010} 00000 n\r\n")),
                None => t.push_str("0000000000 00000 f\r\n"),
            }
        }
        t.push_str(&format!(
            "trailer\n<< /Size {n} /Root {} 0 R /Info {} 0 R >>\nstartxref\n{start}\n%%EOF\n",
            fixed.catalog.get(),
            fixed.info.get()
        ));
        self.w.write_all(t.as_bytes())?;
        self.w.flush()?;
        Ok(self.w)
    }
}

/// The document information dictionary's values.
pub(crate) struct Info<'a> {
    pub(crate) title: &'a str,
    pub(crate) author: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) created: pdf_writer::Date,
}

fn deflate(data: &[u8]) -> Result<Vec<u8>, PdfError> {
    let mut z = ZlibEncoder::new(Vec::with_capacity(data.len() / 3), Compression::new(6));
    z.write_all(data)?;
    Ok(z.finish()?)
}
