//! The two sides of a comparison and the order they take turns in.

use std::path::{Path, PathBuf};

/// What one comparison runs: our binary, and the peer's Python program.
pub struct Subjects {
    /// Our release binary.
    pub ours: PathBuf,
    pub python: PathBuf,
    /// The peer's folder under dev/bench/peers.
    pub peer_dir: PathBuf,
    pub log_dir: PathBuf,
}

/// The peer's `PYTHONPATH`: its own folder and the peers' shared modules.
pub fn peer_path(peer_dir: &Path) -> String {
    let shared = peer_dir.parent().unwrap_or(peer_dir);
    format!("{}:{}", peer_dir.display(), shared.display())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    Ours,
    Peer,
}

impl Side {
    /// Index into per-side arrays: ours first.
    pub fn slot(self) -> usize {
        match self {
            Side::Ours => 0,
            Side::Peer => 1,
        }
    }
}

/// Round `i`'s order, alternated so neither side always goes first (machine noise and warm
/// caches hit both alike).
pub fn order(i: usize) -> [Side; 2] {
    if i.is_multiple_of(2) {
        [Side::Ours, Side::Peer]
    } else {
        [Side::Peer, Side::Ours]
    }
}
