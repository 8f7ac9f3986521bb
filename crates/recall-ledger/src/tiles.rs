//! C2SP tlog-tiles layout.

/// Tree levels per tile level.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) per full tile.
pub const TILE_WIDTH: u64 = 256;

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

/// A malformed tile path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed tile path: {0}")]
pub struct TilePathError(pub String);

impl TilePath {
    /// The path text, e.g. `tile/0/x001/x234/067.p/8` (index in 3-digit groups).
    pub fn to_path(&self) -> String {
        todo!()
    }
    /// Parses a path text (with or without a leading `/`).
    pub fn parse(_path: &str) -> Result<Self, TilePathError> {
        todo!()
    }
    /// The tiles that make up a tree of `size` leaves at tile `level` (full tiles, then a
    /// partial one if any).
    pub fn tiles_for_size(_level: u8, _size: u64) -> Vec<Self> {
        todo!()
    }
}

/// An entry bundle: each entry prefixed with its big-endian u16 length.
pub fn entry_bundle(_entries: &[&[u8]]) -> Vec<u8> {
    todo!()
}

/// Splits an entry bundle back into entries.
pub fn parse_entry_bundle(_bundle: &[u8]) -> Result<Vec<Vec<u8>>, TilePathError> {
    todo!()
}
