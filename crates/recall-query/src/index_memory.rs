//! How much memory fjall may use for the index (`[index]` of `recall.toml`), stated as the
//! memory it really takes, and the settings that hold fjall to it.
//!
//! fjall counts its block cache by the blocks' plain length and its write buffer by key and
//! value bytes; what sits in memory is more (measured with heaptrack on a 2.9M-event
//! directory, docs/design/service.md, "Memory"): a decoded block is a vector of items with
//! a heap key each, ~1.7× its plain length for our small keys, and a memtable's skiplist
//! nodes ~1.5× the bytes fjall counts. So fjall is given the budget divided by those
//! factors, and the budget is what the operator plans for.
//!
//! Invariant: `fjall_*() * factor <= budget`, and neither setting is ever zero.

/// fjall's decoded blocks hold this many tenths of the bytes it charges them.
pub const CACHE_OVERHEAD_TENTHS: u64 = 17;
/// fjall's memtables hold this many tenths of the key and value bytes it counts.
pub const WRITE_BUFFER_OVERHEAD_TENTHS: u64 = 15;
/// Default memory of fjall's block cache: fjall's own default (32 MiB) as it is held.
pub const DEFAULT_INDEX_CACHE_MB: u64 = 56;
/// Default memory of fjall's write buffer: fjall's default (64 MiB counted), as held.
pub const DEFAULT_WRITE_BUFFER_MB: u64 = 96;
/// Smallest budgets accepted (MiB): fjall needs room for a few blocks and memtables.
pub const MIN_INDEX_CACHE_MB: u64 = 4;
/// See [`MIN_INDEX_CACHE_MB`]. Below this a memtable fills before a flush can drain it.
pub const MIN_WRITE_BUFFER_MB: u64 = 16;
/// Largest budgets accepted (MiB), to catch a value given in bytes or KiB.
pub const MAX_INDEX_MB: u64 = 64 * 1024;

/// fjall's block cache and write buffer, in MiB of memory really held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexMemory {
    /// Index blocks read back from disk.
    pub cache_mb: u64,
    /// Index entries not yet flushed to disk (all partitions together).
    pub write_buffer_mb: u64,
}

impl Default for IndexMemory {
    fn default() -> Self {
        IndexMemory {
            cache_mb: DEFAULT_INDEX_CACHE_MB,
            write_buffer_mb: DEFAULT_WRITE_BUFFER_MB,
        }
    }
}

impl IndexMemory {
    /// Checks the ranges; the error names the option (`index.cache_mb`, ...).
    pub fn validate(&self) -> Result<(), String> {
        for (name, value, min) in [
            ("index.cache_mb", self.cache_mb, MIN_INDEX_CACHE_MB),
            (
                "index.write_buffer_mb",
                self.write_buffer_mb,
                MIN_WRITE_BUFFER_MB,
            ),
        ] {
            if !(min..=MAX_INDEX_MB).contains(&value) {
                return Err(format!("{name}: must be {min}..={MAX_INDEX_MB} (MiB)"));
            }
        }
        Ok(())
    }

    /// Both budgets together, MiB.
    pub fn total_mb(&self) -> u64 {
        self.cache_mb + self.write_buffer_mb
    }

    /// The block cache size to give fjall, bytes.
    pub fn fjall_cache_bytes(&self) -> u64 {
        held_to_counted(self.cache_mb, CACHE_OVERHEAD_TENTHS)
    }

    /// The write buffer size to give fjall, bytes.
    pub fn fjall_write_buffer_bytes(&self) -> u64 {
        held_to_counted(self.write_buffer_mb, WRITE_BUFFER_OVERHEAD_TENTHS)
    }
}

fn held_to_counted(mb: u64, tenths: u64) -> u64 {
    ((mb << 20) * 10 / tenths).max(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fjall_is_given_the_budget_less_its_overhead() {
        let m = IndexMemory::default();
        m.validate().unwrap();
        // The defaults are fjall's own defaults, as held.
        assert_eq!(m.fjall_cache_bytes() >> 20, 32);
        assert_eq!(m.fjall_write_buffer_bytes() >> 20, 64);
        for mb in [MIN_INDEX_CACHE_MB, 20, 1000] {
            let m = IndexMemory {
                cache_mb: mb,
                write_buffer_mb: mb.max(MIN_WRITE_BUFFER_MB),
            };
            assert!(m.fjall_cache_bytes() * CACHE_OVERHEAD_TENTHS / 10 <= mb << 20);
            let wb = m.write_buffer_mb << 20;
            assert!(m.fjall_write_buffer_bytes() * WRITE_BUFFER_OVERHEAD_TENTHS / 10 <= wb);
        }
    }

    #[test]
    fn out_of_range_budgets_name_their_option() {
        let small = IndexMemory {
            write_buffer_mb: 8,
            ..IndexMemory::default()
        };
        assert!(
            small
                .validate()
                .unwrap_err()
                .starts_with("index.write_buffer_mb:")
        );
        let bytes = IndexMemory {
            cache_mb: 32 << 20,
            ..IndexMemory::default()
        };
        assert!(bytes.validate().unwrap_err().starts_with("index.cache_mb:"));
    }
}
