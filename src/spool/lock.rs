//! The directory lock: `flock(LOCK_EX | LOCK_NB)` on `lock` in the spool directory. Two
//! opens of the file are two locks even in one process, so a second spool on the same
//! directory is refused whether it is in this process or another; the kernel releases the
//! lock when its holder closes the file or dies.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

pub(super) struct DirectoryLock {
    file: File,
}

impl DirectoryLock {
    pub(super) fn acquire(dir: &Path) -> Result<DirectoryLock, String> {
        let path = dir.join("lock");
        // std opens with O_CLOEXEC: a program the process executes never holds the lock.
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                format!(
                    "spool directory {}: cannot create its lock file: {e}",
                    dir.display()
                )
            })?;
        // SAFETY: a valid descriptor owned by `file`.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = io::Error::last_os_error();
            return Err(if error.kind() == io::ErrorKind::WouldBlock {
                format!(
                    "spool directory {} is in use by another live exporter (in this process \
                     or another); each exporter needs a directory of its own",
                    dir.display()
                )
            } else {
                format!("spool directory {}: cannot lock it: {error}", dir.display())
            });
        }
        Ok(DirectoryLock { file })
    }

    pub(super) fn fd(&self) -> i32 {
        self.file.as_raw_fd()
    }
}
