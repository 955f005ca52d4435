//! A cancellation signal a program can raise from any thread, or from a signal handler,
//! while calls that watch it wait on the exporter's runtime.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::{Error, ErrorKind, Result};

/// How often a waiting call looks at the flag when the reactor cannot watch the pipe
/// (no file descriptor left to duplicate it).
const FALLBACK_POLL: Duration = Duration::from_millis(2);

/// A cancellation signal. [`Cancel::trigger`] only stores to an atomic and calls
/// `write(2)`, so it is async-signal-safe; waiting calls watch the read end of a pipe,
/// which becomes readable on the first trigger and stays so (it is never read).
pub struct Cancel {
    triggered: AtomicBool,
    read_end: OwnedFd,
    write_end: OwnedFd,
}

impl Cancel {
    /// A new, untriggered signal (a non-blocking, close-on-exec pipe).
    pub fn new() -> Result<Cancel> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(os_error("cannot create the cancellation pipe"));
        }
        // SAFETY: pipe succeeded, so both are open descriptors we now own.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [&read_end, &write_end] {
            set_nonblocking_cloexec(fd)?;
        }
        Ok(Cancel {
            triggered: AtomicBool::new(false),
            read_end,
            write_end,
        })
    }

    /// Triggers the signal; later triggers do nothing. Async-signal-safe: no allocation,
    /// no lock, one `write(2)` the first time.
    pub fn trigger(&self) {
        if !self.triggered.swap(true, Ordering::SeqCst) {
            // A full pipe (impossible with one byte) or a closed read end would only
            // lose the wake-up, and waiters also look at the flag.
            // SAFETY: writes one byte from a live buffer to a descriptor we own.
            let _ = unsafe { libc::write(self.write_end.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        }
    }

    /// Whether [`Cancel::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        self.triggered.load(Ordering::SeqCst)
    }

    /// [`ErrorKind::Cancelled`] if triggered already.
    pub fn check(&self) -> Result<()> {
        if self.is_triggered() {
            Err(cancelled())
        } else {
            Ok(())
        }
    }

    /// Completes once triggered. Must run inside a tokio runtime with I/O enabled.
    pub(crate) async fn triggered(&self) {
        if self.is_triggered() {
            return;
        }
        // Each waiter registers its own duplicate: one descriptor can be registered with
        // the reactor only once, and several calls may watch the same signal.
        let watched = self
            .read_end
            .try_clone()
            .ok()
            // SAFETY: the AsyncFd owns this descriptor, open until it is dropped.
            .and_then(|fd| unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.ok());
        if let Some(watched) = watched {
            while !self.is_triggered() {
                let Ok(mut guard) = watched.readable().await else {
                    break;
                };
                // The pipe stays readable once triggered; anything else is spurious.
                if !self.is_triggered() {
                    guard.clear_ready();
                }
            }
        }
        while !self.is_triggered() {
            tokio::time::sleep(FALLBACK_POLL).await;
        }
    }
}

/// Waits for `cancel` if there is one; never completes otherwise.
pub(crate) async fn triggered(cancel: Option<&Cancel>) {
    match cancel {
        Some(cancel) => cancel.triggered().await,
        None => std::future::pending().await,
    }
}

/// The error of a call whose cancellation signal was triggered.
pub(crate) fn cancelled() -> Error {
    Error::new(
        ErrorKind::Cancelled,
        "cancelled: the cancellation handle was triggered",
    )
}

fn os_error(what: &str) -> Error {
    Error::new(
        ErrorKind::Internal,
        format!("{what}: {}", std::io::Error::last_os_error()),
    )
}

fn set_nonblocking_cloexec(fd: &OwnedFd) -> Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let ok = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0
            && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) == 0
            && libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0
    };
    if ok {
        Ok(())
    } else {
        Err(os_error("cannot configure the cancellation pipe"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_trigger_from_another_thread_wakes_every_waiter_promptly() {
        let runtime = runtime();
        let cancel = Arc::new(Cancel::new().unwrap());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let cancel = cancel.clone();
                let handle = runtime.handle().clone();
                std::thread::spawn(move || {
                    handle.block_on(cancel.triggered());
                    Instant::now()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let triggered_at = Instant::now();
        cancel.trigger();
        cancel.trigger();
        for waiter in waiters {
            let woke = waiter.join().unwrap();
            assert!(woke.duration_since(triggered_at) < Duration::from_millis(50));
        }
        assert_eq!(cancel.check().unwrap_err().kind(), ErrorKind::Cancelled);
    }

    #[test]
    fn a_triggered_signal_completes_at_once_and_none_never_does() {
        let runtime = runtime();
        let cancel = Cancel::new().unwrap();
        assert!(cancel.check().is_ok());
        cancel.trigger();
        runtime.block_on(cancel.triggered());
        let never = runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(20), triggered(None)).await
        });
        assert!(never.is_err());
    }
}
