//! The uploads in progress, so that flush and shutdown can wait for those that began
//! before them.

use std::collections::BTreeSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use super::lock;
use crate::cancel::{self, Cancel};
use crate::error::Result;

/// The uploads in progress, so that flush can wait for those that started before it.
#[derive(Default)]
pub(super) struct InFlight {
    state: Mutex<InFlightState>,
    finished: Condvar,
    /// Woken with `finished`, for waiters on the runtime (which a Condvar would block).
    finished_async: Notify,
}

#[derive(Default)]
struct InFlightState {
    next_id: u64,
    active: BTreeSet<u64>,
}

/// One upload in progress; dropping it marks the upload finished.
pub(super) struct Ticket {
    in_flight: Arc<InFlight>,
    id: u64,
}

impl InFlight {
    pub(super) fn begin(self: &Arc<Self>) -> Ticket {
        let mut state = lock(&self.state);
        let id = state.next_id;
        state.next_id += 1;
        state.active.insert(id);
        Ticket {
            in_flight: Arc::clone(self),
            id,
        }
    }

    /// Waits until every upload that began before this call has finished; false when
    /// `deadline` passed first.
    pub(super) fn wait_for_earlier(&self, deadline: Option<Instant>) -> bool {
        let mut state = lock(&self.state);
        let boundary = state.next_id;
        loop {
            match state.active.first() {
                Some(&oldest) if oldest < boundary => {}
                _ => return true,
            }
            state = match deadline {
                None => self.finished.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.finished
                        .wait_timeout(state, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    /// As [`InFlight::wait_for_earlier`], on the runtime, and
    /// [`ErrorKind::Cancelled`](crate::error::ErrorKind::Cancelled) as soon as `cancel` is triggered.
    pub(super) async fn wait_for_earlier_cancellable(
        &self,
        deadline: Option<Instant>,
        cancel: &Cancel,
    ) -> Result<bool> {
        let boundary = lock(&self.state).next_id;
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
            if !self.has_earlier_than(boundary) {
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

    fn has_earlier_than(&self, boundary: u64) -> bool {
        lock(&self.state)
            .active
            .first()
            .is_some_and(|&oldest| oldest < boundary)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        lock(&self.in_flight.state).active.remove(&self.id);
        self.in_flight.finished.notify_all();
        self.in_flight.finished_async.notify_waiters();
    }
}
