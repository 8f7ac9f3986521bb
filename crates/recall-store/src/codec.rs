//! zstd for body blocks, with one compression and one decompression context per thread
//! (creating a context per block showed up in profiles), and decompression into a
//! caller's reusable buffer (fresh 384 KiB buffers cost page faults per block).
//!
//! A decompressed block reserves the size its frame declares, not the largest block:
//! the read cache keeps blocks as they come from here, and a one-event block (every
//! self-audit record is one) that reserved the ~160 KiB limit held it for ~1 KiB of
//! events.

use std::cell::RefCell;

use crate::error::{Result, StoreError};

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn failed(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Malformed(format!("block does not {what}: {e}"))
}

/// Compresses `plain` at `level`.
pub fn compress(plain: &[u8], level: i32) -> Result<Vec<u8>> {
    COMPRESSOR.with_borrow_mut(|slot| {
        if slot.is_none() {
            *slot = Some(zstd::bulk::Compressor::new(level).map_err(|e| failed("compress", e))?);
        }
        let c = slot
            .as_mut()
            .ok_or_else(|| StoreError::Malformed("no compressor".into()))?;
        c.compress(plain).map_err(|e| failed("compress", e))
    })
}

/// Decompresses `compressed` into `out` (cleared first); refuses more than `limit` bytes.
pub fn decompress_into(compressed: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    DECOMPRESSOR.with_borrow_mut(|slot| {
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new().map_err(|e| failed("decompress", e))?);
        }
        let d = slot
            .as_mut()
            .ok_or_else(|| StoreError::Malformed("no decompressor".into()))?;
        let too_large =
            || StoreError::Malformed("block is larger than any block recall writes".into());
        out.clear();
        // recall's compressor writes the content size into every frame; a frame without
        // one (not written by recall) may take up to the limit.
        let want = match zstd::zstd_safe::get_frame_content_size(compressed) {
            Ok(Some(n)) => usize::try_from(n)
                .ok()
                .filter(|&n| n <= limit)
                .ok_or_else(too_large)?,
            Ok(None) | Err(_) => limit,
        };
        out.reserve_exact(want);
        // Writes at most the spare capacity, which earlier limits bound too.
        d.decompress_to_buffer(compressed, out)
            .map_err(|e| failed("decompress", e))?;
        if out.len() > limit {
            return Err(too_large());
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limit() {
        let plain = b"recall ".repeat(1000);
        let c = compress(&plain, 1).unwrap();
        let mut out = Vec::new();
        decompress_into(&c, &mut out, plain.len()).unwrap();
        assert_eq!(out, plain);
        assert!(decompress_into(&c, &mut out, 100).is_err());
    }

    #[test]
    fn a_fresh_buffer_holds_what_the_block_holds_not_the_limit() {
        let plain = b"one small event".repeat(40);
        let c = compress(&plain, 1).unwrap();
        let mut out = Vec::new();
        decompress_into(&c, &mut out, 160 << 10).unwrap();
        assert_eq!(out, plain);
        assert_eq!(out.capacity(), plain.len(), "reserved beyond the block");
    }
}
