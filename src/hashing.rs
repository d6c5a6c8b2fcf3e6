//! Content hashes of products and inputs: one sha256 helper for the job runner's provenance,
//! the closer's verification and the summaries the sequencer records.

use std::io::Read;
use std::path::Path;

/// sha256 of bytes in memory, as hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of a file's content. Large files are read by a second thread into 8 MiB buffers
/// (with O_DIRECT where the filesystem allows it: a product is read once, caching it only
/// evicts what the next task needs) while this one hashes the previous buffer, so a cold disk
/// never waits for the hashing (the `sha2` crate's SHA-NI backend outruns the disk).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    const CHUNK: usize = 8 << 20;
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len() as usize;
    let mut hasher = sha2::Sha256::new();
    if size <= CHUNK {
        let mut bytes = Vec::with_capacity(size);
        file.read_to_end(&mut bytes)?;
        hasher.update(&bytes);
    } else {
        use std::os::unix::fs::OpenOptionsExt;
        if let Ok(direct) = std::fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_DIRECT).open(path) {
            file = direct;
        } else {
            let _ = nix::fcntl::posix_fadvise(&file, 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL);
        }
        let (full, filled) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(2);
        let (empty, recycled) = std::sync::mpsc::channel::<Vec<u8>>();
        for _ in 0..3 {
            let _ = empty.send(Vec::new());
        }
        let reader = std::thread::spawn(move || {
            // O_DIRECT needs 4 KiB-aligned memory: read into an aligned window of a larger block.
            let mut block = vec![0u8; CHUNK + 4096];
            let offset = block.as_ptr().align_offset(4096);
            let mut total = 0usize;
            while let Ok(mut buffer) = recycled.recv() {
                if total >= size {
                    // Never read again at the unaligned end of the file (some filesystems
                    // refuse that with O_DIRECT): an empty chunk ends the hashing.
                    let _ = full.send(Ok(Vec::new()));
                    return;
                }
                let aligned = &mut block[offset..offset + CHUNK];
                let mut used = 0;
                let result = loop {
                    match file.read(&mut aligned[used..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            used += n;
                            if used == CHUNK || total + used >= size {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                total += used;
                buffer.clear();
                buffer.extend_from_slice(&aligned[..used]);
                let done = used == 0 || result.is_err();
                if full.send(result.map(|()| buffer)).is_err() || done {
                    return;
                }
            }
        });
        for chunk in filled {
            let chunk = chunk?;
            if chunk.is_empty() {
                break;
            }
            hasher.update(&chunk);
            let _ = empty.send(chunk);
        }
        drop(empty);
        let _ = reader.join();
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
