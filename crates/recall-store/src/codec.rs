//! zstd for body blocks, with one compression and one decompression context per thread
//! (creating a context per block showed up in profiles), and decompression into a
//! caller's reusable buffer (fresh 384 KiB buffers cost page faults per block).

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
        out.clear();
        out.reserve(limit);
        // Writes at most the spare capacity, which earlier limits bound too.
        d.decompress_to_buffer(compressed, out)
            .map_err(|e| failed("decompress", e))?;
        if out.len() > limit {
            return Err(StoreError::Malformed(
                "block is larger than any block recall writes".into(),
            ));
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
}
