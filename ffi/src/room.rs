//! Room for a file before it is written. OpenUSD reads a `.usdc` file back right after writing it, and
//! when the write failed (a full disk, a file-size limit) that read crashes the process (a truncated
//! crate file, read through a memory map). So a `.usdc` is written only when the file system has room for
//! it twice (the new file beside the old one until the rename) and the process may write a file that
//! large. Never crashing beats writing at the last byte.

use std::path::Path;

use crate::error::UsdError;

/// Fails with [`UsdError::NoRoom`] unless `bytes` fit twice in the file system of `path` and once in the
/// process's file-size limit.
pub fn ensure_room(path: &Path, bytes: u64) -> Result<(), UsdError> {
    use std::os::unix::ffi::OsStrExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let needed = bytes.saturating_mul(2);
    let no_room = |needed, room| UsdError::NoRoom { path: path.display().to_string(), needed, room };
    if let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) {
        // SAFETY: `c` is a valid NUL-terminated path and `s` a properly sized, writable statvfs.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut s) } == 0 {
            let room = (s.f_bavail as u64).saturating_mul(s.f_frsize as u64);
            if room < needed {
                return Err(no_room(needed, room));
            }
        }
    }
    // SAFETY: `r` is a properly sized, writable rlimit.
    let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut r) } == 0 && r.rlim_cur != libc::RLIM_INFINITY {
        let room = r.rlim_cur as u64;
        if room < bytes {
            return Err(no_room(bytes, room));
        }
    }
    Ok(())
}
