//! Files read from a path the application configures: JWKS files and
//! secret files. A leaf module: it imports nothing from the crate.
//!
//! Only regular files are read, and only up to a named limit: a FIFO would
//! block start-up until some writer came, a device such as `/dev/zero`
//! never ends, and a wrong path to a large file would be read whole.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The content of the regular file at `path`, of at most `max` bytes;
/// `limit` names the constant in the error.
pub(crate) fn read_regular(path: &Path, max: u64, limit: &str) -> io::Result<Vec<u8>> {
    let file = open(path)?;
    // The handle's own type, so no other file can be swapped in between.
    if !file.metadata()?.is_file() {
        return Err(not_a_file());
    }
    let mut bytes = Vec::new();
    // One byte over the limit tells a file that fits from one that does not.
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > max) {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {max} bytes ({limit})"),
        ));
    }
    Ok(bytes)
}

fn not_a_file() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")
}

/// Opens without blocking: a FIFO opens at once (and is then refused as
/// not a regular file) instead of waiting for a writer. Reading a regular
/// file is unaffected by the flag.
#[cfg(unix)]
fn open(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Elsewhere: the path's type is checked before opening, and the handle's
/// after.
#[cfg(not(unix))]
fn open(path: &Path) -> io::Result<File> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_a_file());
    }
    File::open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("bearer-guard-file-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn a_file_at_the_limit_is_read_and_one_byte_more_is_refused() {
        let at = temp("at", &[b'x'; 100]);
        assert_eq!(read_regular(&at, 100, "LIMIT").unwrap().len(), 100);
        let over = temp("over", &[b'x'; 101]);
        let err = read_regular(&over, 100, "LIMIT").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(err.to_string(), "larger than 100 bytes (LIMIT)");
        let _ = std::fs::remove_file(at);
        let _ = std::fs::remove_file(over);
    }

    #[test]
    fn a_directory_is_not_a_regular_file() {
        let err = read_regular(&std::env::temp_dir(), 100, "LIMIT").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_device_that_never_ends_is_refused() {
        let err = read_regular(Path::new("/dev/zero"), 100, "LIMIT").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_without_a_writer_is_refused_at_once() {
        let path =
            std::env::temp_dir().join(format!("bearer-guard-file-{}-fifo", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo");
        // Returns (no writer ever comes): the open does not block.
        let err = read_regular(&path, 100, "LIMIT").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let _ = std::fs::remove_file(path);
    }
}
