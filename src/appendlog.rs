//! Line logs shared by many writers (the night's `prov.log`, the history files): every append
//! is whole lines, under an exclusive `flock`.
//! - A write cut short (a full disk) is truncated back to where it started, so no half record
//!   stays behind; the caller gets the error.
//! - A tail left without its newline by a writer that died mid-write is fenced with a newline
//!   before the next append, so it can never swallow the next record: the reader reports it
//!   as the one bad line it is.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// Appends `text` (whole lines, each ending in `\n`) to the log at `path`.
pub fn append_lines(path: &Path, text: &str) -> std::io::Result<()> {
    debug_assert!(text.is_empty() || text.ends_with('\n'), "whole lines only");
    if text.is_empty() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().create(true).read(true).append(true).open(path)?;
    let mut log = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| std::io::Error::from(e))?;
    let start = log.metadata()?.len();
    let mut fence = "";
    if start > 0 {
        let mut last = [0u8; 1];
        log.seek(SeekFrom::Start(start - 1))?;
        log.read_exact(&mut last)?;
        if last[0] != b'\n' {
            fence = "\n";
        }
    }
    let bytes = [fence.as_bytes(), text.as_bytes()].concat();
    if let Err(e) = log.write_all(&bytes).and_then(|()| log.flush()) {
        // Never leave a half record: give back what this append wrote.
        let _ = log.set_len(start);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_tail_is_fenced_not_joined() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("prov.log");
        append_lines(&log, "one\n").unwrap();
        // A writer killed mid-record.
        std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(b"tw").unwrap();
        append_lines(&log, "three\nfour\n").unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntw\nthree\nfour\n");
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        // /dev/full fails every write with ENOSPC, as a full disk does.
        let err = append_lines(Path::new("/dev/full"), "record\n").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(nix::libc::ENOSPC));
    }
}
