//! The uploads in progress, so that flush and shutdown can wait for those that began
//! before them.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use super::lock;
use crate::cancel::{self, Cancel};
use crate::error::Result;

/// The uploads in progress, so that flush can wait for those that started before it.
///
/// Beginning and finishing an upload take the lock once each, allocate nothing once the
/// queue has grown to the most uploads in flight at once, and wake nobody unless a flush
/// waits and the oldest upload just finished.
#[derive(Default)]
pub(super) struct InFlight {
    state: Mutex<InFlightState>,
    finished: Condvar,
    /// Woken with `finished`, for waiters on the runtime (which a Condvar would block).
    finished_async: Notify,
}

/// Uploads are numbered in the order they began; `finished[i]` tells whether upload
/// `oldest + i` has finished. Finished uploads at the front are dropped at once, so the
/// front, when there is one, is the oldest upload still in progress.
#[derive(Default)]
struct InFlightState {
    oldest: u64,
    finished: VecDeque<bool>,
    /// Flushes waiting now (on a thread or on the runtime).
    waiters: usize,
}

impl InFlightState {
    /// The number the next upload gets.
    fn next_id(&self) -> u64 {
        self.oldest + self.finished.len() as u64
    }

    /// Whether an upload numbered below `boundary` is still in progress.
    fn has_earlier_than(&self, boundary: u64) -> bool {
        !self.finished.is_empty() && self.oldest < boundary
    }

    /// Marks upload `id` finished; true when that made the oldest one in progress change.
    fn finish(&mut self, id: u64) -> bool {
        let Some(slot) = id
            .checked_sub(self.oldest)
            .and_then(|i| self.finished.get_mut(i as usize))
        else {
            return false;
        };
        *slot = true;
        let mut advanced = false;
        while self.finished.front() == Some(&true) {
            self.finished.pop_front();
            self.oldest += 1;
            advanced = true;
        }
        advanced
    }
}

/// One upload in progress; dropping it marks the upload finished.
pub(super) struct Ticket {
    in_flight: Arc<InFlight>,
    id: u64,
}

impl InFlight {
    pub(super) fn begin(self: &Arc<Self>) -> Ticket {
        let mut state = lock(&self.state);
        let id = state.next_id();
        state.finished.push_back(false);
        Ticket {
            in_flight: Arc::clone(self),
            id,
        }
    }

    /// Waits until every upload that began before this call has finished; false when
    /// `deadline` passed first.
    pub(super) fn wait_for_earlier(&self, deadline: Option<Instant>) -> bool {
        let mut state = lock(&self.state);
        let boundary = state.next_id();
        state.waiters += 1;
        let flushed = loop {
            if !state.has_earlier_than(boundary) {
                break true;
            }
            state = match deadline {
                None => self.finished.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break false;
                    }
                    self.finished
                        .wait_timeout(state, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        };
        state.waiters -= 1;
        flushed
    }

    /// As [`InFlight::wait_for_earlier`], on the runtime, and
    /// [`ErrorKind::Cancelled`](crate::error::ErrorKind::Cancelled) as soon as `cancel` is triggered.
    pub(super) async fn wait_for_earlier_cancellable(
        &self,
        deadline: Option<Instant>,
        cancel: &Cancel,
    ) -> Result<bool> {
        let boundary = {
            let mut state = lock(&self.state);
            state.waiters += 1;
            state.next_id()
        };
        let _waiting = AsyncWaiter(self);
        let deadline_passed = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline_passed);
        loop {
            let finished = self.finished_async.notified();
            tokio::pin!(finished);
            // Registered before the check, so a ticket dropped in between still wakes us.
            finished.as_mut().enable();
            if !lock(&self.state).has_earlier_than(boundary) {
                return Ok(true);
            }
            tokio::select! {
                biased;
                _ = cancel.triggered() => return Err(cancel::cancelled()),
                _ = &mut deadline_passed => return Ok(false),
                _ = finished => {}
            }
        }
    }
}

/// Counts a flush waiting on the runtime among the waiters until it ends, however it
/// ends (its future may be dropped at any await).
struct AsyncWaiter<'a>(&'a InFlight);

impl Drop for AsyncWaiter<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).waiters -= 1;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let wake = {
            let mut state = lock(&self.in_flight.state);
            state.finish(self.id) && state.waiters > 0
        };
        if wake {
            self.in_flight.finished.notify_all();
            self.in_flight.finished_async.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_flush_waits_only_for_uploads_that_began_before_it() {
        let in_flight = Arc::new(InFlight::default());
        let first = in_flight.begin();
        let second = in_flight.begin();
        // The younger one finishing first leaves the older one in progress.
        drop(second);
        assert!(!in_flight.wait_for_earlier(Some(Instant::now() + Duration::from_millis(20))));
        let waiter = {
            let in_flight = in_flight.clone();
            std::thread::spawn(move || in_flight.wait_for_earlier(None))
        };
        while lock(&in_flight.state).waiters == 0 {
            std::thread::yield_now();
        }
        // Begun after the flush: not waited for.
        let later = in_flight.begin();
        drop(first);
        assert!(waiter.join().unwrap());
        assert_eq!(lock(&in_flight.state).waiters, 0);
        drop(later);
        let state = lock(&in_flight.state);
        assert!(state.finished.is_empty());
        assert_eq!(state.oldest, 3);
    }

    #[test]
    fn finishing_out_of_order_keeps_the_oldest_in_front() {
        let mut state = InFlightState::default();
        for _ in 0..4 {
            state.finished.push_back(false);
        }
        assert!(!state.finish(2));
        assert!(!state.finish(1));
        assert!(state.has_earlier_than(1));
        assert!(state.finish(0));
        assert_eq!((state.oldest, state.finished.len()), (3, 1));
        assert!(!state.has_earlier_than(3));
        assert!(state.has_earlier_than(4));
        assert!(!state.finish(0), "finished already");
        assert!(state.finish(3));
        assert!(!state.has_earlier_than(u64::MAX));
    }
}
