//! The uploads in progress, so that flush and shutdown can wait for those that began
//! before them.

use std::collections::BTreeSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::lock;

/// The uploads in progress, so that flush can wait for those that started before it.
#[derive(Default)]
pub(super) struct InFlight {
    state: Mutex<InFlightState>,
    finished: Condvar,
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
}

impl Drop for Ticket {
    fn drop(&mut self) {
        lock(&self.in_flight.state).active.remove(&self.id);
        self.in_flight.finished.notify_all();
    }
}
