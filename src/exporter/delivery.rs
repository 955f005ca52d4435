//! Delivery of serialized requests: the retry loop of the OTLP specification, within a
//! deadline, with statistics and partial-success reporting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Shared;
use crate::error::{Error, Result};
use crate::retry::{Backoff, NextStep};
use crate::stats::Stats;
use crate::transport::{Accepted, Transport};

/// One transport and what deliveries report to.
pub(super) struct Delivery {
    pub(super) shared: Arc<Shared>,
    pub(super) transport: Transport,
}

/// A request ready to send.
pub(super) struct Prepared {
    /// What goes on the wire ([`Transport::wire_body`]).
    body: Bytes,
    /// The size of the serialized request (what `bytes_sent` counts).
    request_len: usize,
}

/// The pieces of one upload, [prepared](Delivery::prepare).
pub(super) struct PreparedPieces {
    pieces: Vec<Prepared>,
    /// The first piece that could not be prepared (counted as failed).
    error: Option<Error>,
}

impl Delivery {
    /// Makes the wire bodies of one upload's requests: CPU work (OTLP/JSON, gzip) done once
    /// for all attempts, on the thread that calls it. A request that cannot be made into
    /// one is a failure, counted here.
    pub(super) fn prepare(&self, requests: &[Bytes]) -> PreparedPieces {
        let mut error = None;
        let pieces = requests
            .iter()
            .filter_map(|request| match self.transport.wire_body(request) {
                Ok(body) => Some(Prepared {
                    body,
                    request_len: request.len(),
                }),
                Err(e) => {
                    Stats::add(&self.shared.stats.requests_failed, 1);
                    error.get_or_insert(e);
                    None
                }
            })
            .collect();
        PreparedPieces { pieces, error }
    }

    /// Sends the pieces of one upload in turn; the first failure is the result, and the
    /// other pieces are still tried.
    pub(super) async fn deliver_all(
        &self,
        prepared: &PreparedPieces,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let mut first_error = prepared.error.clone();
        for piece in &prepared.pieces {
            if let Err(error) = self.deliver(piece, deadline).await {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Sends one request with the retry policy, within `deadline`.
    async fn deliver(&self, piece: &Prepared, deadline: Option<Instant>) -> Result<()> {
        let result = self.send_with_retry(&piece.body, deadline).await;
        match &result {
            Ok(accepted) => {
                Stats::add(&self.shared.stats.requests_sent, 1);
                Stats::add(&self.shared.stats.bytes_sent, piece.request_len as u64);
                self.report_partial_success(accepted);
            }
            Err(_) => Stats::add(&self.shared.stats.requests_failed, 1),
        }
        result.map(drop)
    }

    async fn send_with_retry(&self, body: &Bytes, deadline: Option<Instant>) -> Result<Accepted> {
        let mut backoff = Backoff::new(self.shared.settings.retry);
        let deadline_passed = |last: &str| {
            Error::timeout(format!(
                "the deadline passed before the receiver accepted the data; last error: {last}"
            ))
        };
        loop {
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if remaining == Some(Duration::ZERO) {
                return Err(deadline_passed("none (no time left to try)"));
            }
            let attempt = self.transport.send(body, remaining);
            let outcome = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline.into(), attempt).await {
                    Ok(outcome) => outcome,
                    Err(_) => return Err(deadline_passed("the receiver did not answer in time")),
                },
                None => attempt.await,
            };
            let error = match outcome {
                Ok(accepted) => return Ok(accepted),
                Err(error) => error,
            };
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(deadline_passed(&error.message));
            }
            if !error.retryable {
                return Err(Error::export(format!(
                    "the receiver refused the data: {}",
                    error.message
                )));
            }
            match backoff.next(error.throttle) {
                NextStep::GiveUp(why) => {
                    return Err(Error::export(format!(
                        "{why}; last error: {}",
                        error.message
                    )))
                }
                NextStep::Wait(wait) => {
                    if deadline.is_some_and(|d| Instant::now() + wait > d) {
                        return Err(Error::timeout(format!(
                            "the next retry (in {wait:?}) would come after the deadline; last error: {}",
                            error.message
                        )));
                    }
                    self.shared.settings.logger.debug(|| {
                        format!("export failed, retrying in {wait:?}: {}", error.message)
                    });
                    Stats::add(&self.shared.stats.retries, 1);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn report_partial_success(&self, accepted: &Accepted) {
        if accepted.rejected_data_points == 0 && accepted.message.is_empty() {
            return;
        }
        Stats::add(
            &self.shared.stats.data_points_rejected,
            accepted.rejected_data_points.max(0) as u64,
        );
        self.shared.settings.logger.warn(&format!(
            "partial success: {} ({} metric data points rejected)",
            crate::transport::excerpt(&accepted.message),
            accepted.rejected_data_points
        ));
    }
}
