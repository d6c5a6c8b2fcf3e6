//! The final layout: once a run's subruns are verified, their products move from the
//! analysis dir to where LSTOSA puts them (DL1/N/P/T, DL1/N/P/T/datacheck, DL1/N/P/muons),
//! and a link is left at the old place so `running_analysis` still reads as before. The DL1a
//! files stay (LSTOSA deletes them; osa loses nothing); interleaved files, which no default
//! step declares, are not moved.
//!
//! A move is a rename within one filesystem, never a copy then a delete: across filesystems
//! it is refused, naming both paths. Each step is safe to crash in and to repeat: the rename
//! is atomic, the link is made after it, and a second pass finishes what the first left
//! (a file at the new place and none at the old gets its link; a link already there is
//! left). A product made again (a subrun retried after an `osa rerun`) replaces the one at
//! the new place, and says so.

use std::path::{Path, PathBuf};

use crate::night::NightDate;
use crate::paths::Layout;

/// Where a subrun product of this kind (the output template it comes from) goes, if it moves.
pub fn final_place(layout: &Layout, night: NightDate, kind: &str, run: u32, subrun: u32) -> Option<PathBuf> {
    match kind {
        "{dl1b_file}" => Some(layout.final_dl1b_file(night, run, subrun)),
        "{datacheck_file}" => Some(layout.final_datacheck_file(night, run, subrun)),
        "{muons_file}" => Some(layout.final_muons_file(night, run, subrun)),
        _ => None,
    }
}

/// What a move found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Moved {
    /// Renamed now, link left.
    Moved,
    /// Already at the new place (a link made if it was missing).
    AlreadyThere,
    /// A newer product replaced the one at the new place (whose sha256 this was).
    Replaced { old_sha256: String },
}

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("{from} is on another filesystem than {to}: not moved (osa moves by rename only; nothing copied or deleted)")]
    CrossDevice { from: PathBuf, to: PathBuf },
    #[error("neither {from} nor {to} exists: the product is lost")]
    Missing { from: PathBuf, to: PathBuf },
    #[error("moving {from} to {to}: {source}")]
    Io { from: PathBuf, to: PathBuf, source: std::io::Error },
}

/// Whether `link` is a symbolic link to `target`.
fn links_to(link: &Path, target: &Path) -> bool {
    std::fs::read_link(link).is_ok_and(|t| t == target)
}

fn make_link(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(from).is_ok() {
        std::fs::remove_file(from)?;
    }
    std::os::unix::fs::symlink(to, from)
}

/// Moves one product from `from` to `to` (see the module's rules).
pub fn move_product(from: &Path, to: &Path) -> Result<Moved, MoveError> {
    let io = |source| MoveError::Io { from: from.to_path_buf(), to: to.to_path_buf(), source };
    let at_old = std::fs::symlink_metadata(from).ok();
    let is_file = at_old.as_ref().is_some_and(|m| m.file_type().is_file());
    if !is_file {
        // Nothing to rename: the product is at the new place already, or lost.
        if !to.exists() {
            return Err(MoveError::Missing { from: from.to_path_buf(), to: to.to_path_buf() });
        }
        if !links_to(from, to) {
            make_link(from, to).map_err(io)?;
        }
        return Ok(Moved::AlreadyThere);
    }
    let replaced = match std::fs::metadata(to) {
        Ok(_) => {
            let old = crate::hashing::sha256_file(to).map_err(io)?;
            let new = crate::hashing::sha256_file(from).map_err(io)?;
            (old != new).then_some(old)
        }
        Err(_) => None,
    };
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    match std::fs::rename(from, to) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
            return Err(MoveError::CrossDevice { from: from.to_path_buf(), to: to.to_path_buf() });
        }
        Err(e) => return Err(io(e)),
    }
    make_link(from, to).map_err(io)?;
    Ok(match replaced {
        Some(old_sha256) => Moved::Replaced { old_sha256 },
        None => Moved::Moved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_is_a_rename_with_a_link_back_and_repeats_safely() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("a/dl1.h5");
        let to = dir.path().join("b/c/dl1.h5");
        std::fs::create_dir_all(from.parent().unwrap()).unwrap();
        std::fs::write(&from, b"events").unwrap();
        assert_eq!(move_product(&from, &to).unwrap(), Moved::Moved);
        assert_eq!(std::fs::read(&to).unwrap(), b"events");
        assert_eq!(std::fs::read_link(&from).unwrap(), to);
        assert_eq!(move_product(&from, &to).unwrap(), Moved::AlreadyThere, "a second pass changes nothing");

        // A crash between the rename and the link: the next pass makes the link.
        std::fs::remove_file(&from).unwrap();
        assert_eq!(move_product(&from, &to).unwrap(), Moved::AlreadyThere);
        assert_eq!(std::fs::read_link(&from).unwrap(), to);
        assert_eq!(std::fs::read(&from).unwrap(), b"events");

        // A product made again replaces the old one, and says so.
        std::fs::remove_file(&from).unwrap();
        std::fs::write(&from, b"new events").unwrap();
        assert!(matches!(move_product(&from, &to).unwrap(), Moved::Replaced { .. }));
        assert_eq!(std::fs::read(&to).unwrap(), b"new events");

        std::fs::remove_file(&from).unwrap();
        std::fs::remove_file(&to).unwrap();
        assert!(matches!(move_product(&from, &to), Err(MoveError::Missing { .. })));
    }
}
