//! The crate's one way to take a lock.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, even poisoned: the crate's locks guard plain data that a panic cannot
/// leave half-changed, and a C program's process must go on if a callback ever panicked
/// while one was held.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
