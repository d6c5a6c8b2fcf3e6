//! The data disk: how much room is left, and whether a failure was the disk being full. A
//! full disk is nothing wrong with the data: the run waits for space, and the tries it spent
//! meanwhile do not count.

use std::path::Path;

/// Bytes free for this process on the filesystem holding `path` (the nearest existing folder).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let stats = nix::sys::statvfs::statvfs(existing).ok()?;
    Some(stats.blocks_available() as u64 * stats.fragment_size() as u64)
}

/// What programs print when the disk is full (C's strerror, Python's OSError, HDF5).
const FULL: &[&str] = &["No space left on device", "Disk quota exceeded", "ENOSPC"];

/// Whether a failure was the disk being full: the program said so, or no room is left.
pub fn was_full(path: &Path, output: &str) -> bool {
    FULL.iter().any(|s| output.contains(s)) || free_bytes(path).is_some_and(|free| free < 1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disks_are_told_from_their_words_or_their_room() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert!(free_bytes(here).is_some_and(|b| b > 0));
        assert!(free_bytes(&here.join("no/such/folder")).is_some(), "measured on the nearest existing folder");
        assert!(was_full(here, "OSError: [Errno 28] No space left on device: 'dl1.h5'"));
        assert!(!was_full(here, "KeyError: 'pedestal'"));
    }
}
