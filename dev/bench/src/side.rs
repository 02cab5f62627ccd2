//! The two sides of a comparison and the order they take turns in.

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
