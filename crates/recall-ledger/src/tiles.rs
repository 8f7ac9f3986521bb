//! C2SP tlog-tiles layout.
//!
//! A tile at level `L`, index `N`, width `W` holds the hashes of the tree-level `8·L`
//! nodes `[N·256, N·256 + W)`, concatenated (32 bytes each): level 0 holds leaf hashes,
//! level 1 the roots of full level-0 tiles, and so on. Entry bundle `N` holds the
//! entries of leaves `[N·256, N·256 + W)`, each prefixed by its big-endian u16 length.

use crate::Hash;

/// Tree levels per tile level.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) per full tile.
pub const TILE_WIDTH: u64 = 256;
/// Highest tile level C2SP allows.
pub const MAX_TILE_LEVEL: u8 = 63;

/// A tile or entry-bundle path: `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePath {
    /// Tile level (tree level = 8 × level); `None` for an entry bundle.
    pub level: Option<u8>,
    /// Tile index within its level.
    pub index: u64,
    /// Number of hashes/entries: 256 for a full tile, 1..=255 for a partial one.
    pub width: u16,
}

/// A malformed tile path (or entry bundle, or tile data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed tile path: {0}")]
pub struct TilePathError(pub String);

fn err(msg: impl Into<String>) -> TilePathError {
    TilePathError(msg.into())
}

impl TilePath {
    /// The path text, e.g. `tile/0/x001/x234/067.p/8` (index in 3-digit groups).
    ///
    /// Any width other than 256 is written as a partial tile; only widths 1..=256 and
    /// levels 0..=63 give paths [`TilePath::parse`] accepts.
    pub fn to_path(&self) -> String {
        let mut out = match self.level {
            Some(l) => format!("tile/{l}/"),
            None => "tile/entries/".to_owned(),
        };
        // Three-digit groups, most significant first; all but the last get an `x`.
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        for (i, g) in groups.iter().rev().enumerate() {
            if i + 1 < groups.len() {
                out.push_str(&format!("x{g:03}/"));
            } else {
                out.push_str(&format!("{g:03}"));
            }
        }
        if u64::from(self.width) != TILE_WIDTH {
            out.push_str(&format!(".p/{}", self.width));
        }
        out
    }

    /// Parses a path text (with or without a leading `/`). Only the canonical form is
    /// accepted: no leading zeros in the level or width, no all-zero leading group.
    pub fn parse(path: &str) -> Result<Self, TilePathError> {
        let p = path.strip_prefix('/').unwrap_or(path);
        let rest = p
            .strip_prefix("tile/")
            .ok_or_else(|| err("does not start with tile/"))?;
        let (kind, rest) = rest.split_once('/').ok_or_else(|| err("no index"))?;
        let level = match kind {
            "entries" => None,
            l => {
                let l = decimal(l).filter(|&l| l <= u64::from(MAX_TILE_LEVEL));
                Some(l.ok_or_else(|| err("level is not a decimal in 0..=63"))? as u8)
            }
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((index_part, w)) => {
                let w = decimal(w).filter(|w| (1..TILE_WIDTH).contains(w));
                (
                    index_part,
                    w.ok_or_else(|| err("partial width is not a decimal in 1..=255"))?,
                )
            }
            None => (rest, TILE_WIDTH),
        };
        let groups: Vec<&str> = index_part.split('/').collect();
        let mut index: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let digits = if i + 1 < groups.len() {
                g.strip_prefix('x')
                    .ok_or_else(|| err("inner index element lacks x"))?
            } else {
                g
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("index element is not 3 digits"));
            }
            let d: u64 = digits
                .parse()
                .map_err(|_| err("index element is not 3 digits"))?;
            index = index
                .checked_mul(1000)
                .and_then(|n| n.checked_add(d))
                .ok_or_else(|| err("index overflows u64"))?;
        }
        let tile = Self {
            level,
            index,
            width: width as u16,
        };
        // One spelling per tile: refuse e.g. `x000/005` for `005`.
        if tile.to_path() != p {
            return Err(err("index is not in canonical form"));
        }
        Ok(tile)
    }

    /// The tiles that make up a tree of `size` leaves at tile `level` (full tiles, then a
    /// partial one if any).
    pub fn tiles_for_size(level: u8, size: u64) -> Vec<Self> {
        let shift = u32::from(level) * u32::from(TILE_HEIGHT);
        let nodes = size.checked_shr(shift).unwrap_or(0);
        let (full, partial) = (nodes / TILE_WIDTH, nodes % TILE_WIDTH);
        let tile = |index, width| Self {
            level: Some(level),
            index,
            width,
        };
        let mut out: Vec<Self> = (0..full).map(|n| tile(n, TILE_WIDTH as u16)).collect();
        if partial > 0 {
            out.push(tile(full, partial as u16));
        }
        out
    }

    /// The entry bundles holding the entries of a tree of `size` leaves.
    pub fn entry_bundles_for_size(size: u64) -> Vec<Self> {
        Self::tiles_for_size(0, size)
            .into_iter()
            .map(|t| Self { level: None, ..t })
            .collect()
    }
}

/// An ASCII decimal without sign or leading zeros.
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// An entry bundle: each entry prefixed with its big-endian u16 length.
///
/// # Panics
/// When an entry is longer than 65535 bytes; [`try_entry_bundle`] reports it instead.
pub fn entry_bundle(entries: &[&[u8]]) -> Vec<u8> {
    match try_entry_bundle(entries) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    }
}

/// [`entry_bundle`], refusing entries longer than 65535 bytes.
pub fn try_entry_bundle(entries: &[&[u8]]) -> Result<Vec<u8>, TilePathError> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
    for (i, e) in entries.iter().enumerate() {
        let len = u16::try_from(e.len()).map_err(|_| {
            err(format!(
                "entry {i} has {} bytes, at most 65535 fit",
                e.len()
            ))
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits an entry bundle back into entries.
pub fn parse_entry_bundle(bundle: &[u8]) -> Result<Vec<Vec<u8>>, TilePathError> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let [hi, lo, tail @ ..] = rest else {
            return Err(err(format!(
                "entry bundle: truncated length after {} entries",
                out.len()
            )));
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if tail.len() < len {
            return Err(err(format!("entry bundle: entry {} truncated", out.len())));
        }
        out.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    Ok(out)
}

/// The tile data for `hashes`: the 32-byte hashes concatenated.
pub fn tile_bytes(hashes: &[Hash]) -> Vec<u8> {
    hashes.concat()
}

/// Splits tile data into hashes: 1 to 256 whole hashes.
pub fn parse_tile(data: &[u8]) -> Result<Vec<Hash>, TilePathError> {
    if data.is_empty() || !data.len().is_multiple_of(32) || data.len() as u64 > TILE_WIDTH * 32 {
        return Err(err(format!(
            "tile data of {} bytes is not 1..=256 hashes",
            data.len()
        )));
    }
    Ok(data
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tile(level: Option<u8>, index: u64, width: u16) -> TilePath {
        TilePath {
            level,
            index,
            width,
        }
    }

    /// Examples from C2SP tlog-tiles and the brief.
    #[test]
    fn spec_examples() {
        let cases = [
            (tile(Some(0), 1_234_067, 256), "tile/0/x001/x234/067"),
            (tile(Some(0), 5, 256), "tile/0/005"),
            (tile(Some(0), 1_234_067, 8), "tile/0/x001/x234/067.p/8"),
            (tile(Some(2), 0, 1), "tile/2/000.p/1"),
            (tile(Some(63), 1000, 255), "tile/63/x001/000.p/255"),
            (tile(None, 1_234_067, 256), "tile/entries/x001/x234/067"),
            (tile(None, 0, 112), "tile/entries/000.p/112"),
            (
                tile(Some(1), u64::MAX, 256),
                "tile/1/x018/x446/x744/x073/x709/x551/615",
            ),
        ];
        for (t, path) in cases {
            assert_eq!(t.to_path(), path);
            assert_eq!(TilePath::parse(path).unwrap(), t, "{path}");
            assert_eq!(TilePath::parse(&format!("/{path}")).unwrap(), t, "/{path}");
        }
    }

    #[test]
    fn bad_paths_are_refused() {
        for p in [
            "",
            "tile/",
            "tile/0",
            "tile/0/",
            "tiles/0/005",
            "tile/00/005",
            "tile/64/005",
            "tile/-1/005",
            "tile/x/005",
            "tile/0/5",
            "tile/0/0005",
            "tile/0/x000/005",
            "tile/0/001/005",
            "tile/0/x001/x005",
            "tile/0/x1/005",
            "tile/0/005.p/0",
            "tile/0/005.p/256",
            "tile/0/005.p/08",
            "tile/0/005.p/",
            "tile/0/005.p/1/2",
            "tile/0/005/",
            "tile/0/005.p",
            "tile/data/005",
            "tile/entries/",
            "tile/0/00a",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "//tile/0/005",
            "tile/0//005",
            "tile/4/0/001",
        ] {
            assert!(TilePath::parse(p).is_err(), "{p:?} was accepted");
        }
    }

    /// C2SP: "a tree of size 70,000 will be represented by 273 full level 0 tiles, one
    /// partial level 0 tile of width 112, one full level 1 tile, one partial level 1
    /// tile of width 17, and one partial level 2 tile of width 1."
    #[test]
    fn tiles_for_size_70000() {
        let l0 = TilePath::tiles_for_size(0, 70_000);
        assert_eq!(l0.len(), 274);
        assert!(
            l0[..273]
                .iter()
                .enumerate()
                .all(|(i, t)| *t == tile(Some(0), i as u64, 256))
        );
        assert_eq!(l0[273], tile(Some(0), 273, 112));
        assert_eq!(
            TilePath::tiles_for_size(1, 70_000),
            [tile(Some(1), 0, 256), tile(Some(1), 1, 17)]
        );
        assert_eq!(TilePath::tiles_for_size(2, 70_000), [tile(Some(2), 0, 1)]);
        assert!(TilePath::tiles_for_size(3, 70_000).is_empty());
        assert!(TilePath::tiles_for_size(63, u64::MAX).is_empty());
        // "a tree of size 256 will be represented by a full level 0 tile and a partial
        // level 1 tile of width 1."
        assert_eq!(TilePath::tiles_for_size(0, 256), [tile(Some(0), 0, 256)]);
        assert_eq!(TilePath::tiles_for_size(1, 256), [tile(Some(1), 0, 1)]);
        assert!(TilePath::tiles_for_size(0, 0).is_empty());
        assert_eq!(
            TilePath::entry_bundles_for_size(300),
            [tile(None, 0, 256), tile(None, 1, 44)]
        );
        assert_eq!(
            TilePath::tiles_for_size(7, u64::MAX),
            [tile(Some(7), 0, 255)]
        );
    }

    #[test]
    fn entry_bundles() {
        let big = vec![7u8; 65_535];
        let entries: [&[u8]; 4] = [b"", b"a", &[0u8; 32], &big];
        let b = entry_bundle(&entries);
        assert_eq!(&b[..5], &[0, 0, 0, 1, b'a']);
        assert_eq!(b.len(), 8 + 1 + 32 + 65_535);
        assert_eq!(parse_entry_bundle(&b).unwrap(), entries.map(<[u8]>::to_vec));
        assert!(parse_entry_bundle(&b[..b.len() - 1]).is_err());
        assert!(parse_entry_bundle(&[0]).is_err());
        assert!(parse_entry_bundle(&[0, 2, 1]).is_err());
        assert_eq!(parse_entry_bundle(&[]).unwrap(), Vec::<Vec<u8>>::new());
        assert!(try_entry_bundle(&[&[0u8; 65_536]]).is_err());
    }

    #[test]
    fn tile_data() {
        let hashes = [[1u8; 32], [2u8; 32]];
        let data = tile_bytes(&hashes);
        assert_eq!(data.len(), 64);
        assert_eq!(parse_tile(&data).unwrap(), hashes);
        assert!(parse_tile(&data[..63]).is_err());
        assert!(parse_tile(&[]).is_err());
        assert!(parse_tile(&vec![0; 257 * 32]).is_err());
        assert_eq!(parse_tile(&vec![0; 256 * 32]).unwrap().len(), 256);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn paths_round_trip(level in proptest::option::of(0u8..=63), index: u64, width in 1u16..=256) {
            let t = tile(level, index, width);
            prop_assert_eq!(TilePath::parse(&t.to_path()).unwrap(), t);
        }

        #[test]
        fn bundles_round_trip(entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
            let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(parse_entry_bundle(&entry_bundle(&refs)).unwrap(), entries);
        }
    }
}
