//! The one delivery pipeline: a serialized request's whole life, from splitting to the
//! receiver's last answer, with every statistic it moves. Synchronous uploads and the
//! background queue both go through [`Delivery::deliver`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::{DeliveryReport, Shared};
use crate::cancel::{self, Cancel};
use crate::config::AttemptHeaders;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::{count, split};
use crate::retry::{Backoff, NextStep};
use crate::stats::Stats;
use crate::transport::{Accepted, AttemptError, ResponseStatus, Transport};

/// One transport, what deliveries report to, and the shutdown that stops them.
pub(super) struct Delivery {
    pub(super) shared: Arc<Shared>,
    transport: Transport,
    /// Cancelled by shutdown: deliveries still running then stop at once.
    cancel: CancellationToken,
}

/// A request ready to send.
struct Prepared {
    /// What goes on the wire ([`Transport::wire_body`]).
    body: Bytes,
    /// The serialized request, split again if the receiver finds it too large; its
    /// length is what `bytes_sent` counts.
    request: Bytes,
}

/// Why one request was not delivered.
enum Undelivered {
    /// For good (or for this call): the error to report.
    Failed(Error),
    /// The receiver refused it for its size (its message): smaller requests may pass.
    TooLarge(String),
}

impl From<Error> for Undelivered {
    fn from(error: Error) -> Self {
        Undelivered::Failed(error)
    }
}

/// How the requests of one delivery ended: the failures and the first error, the data
/// points rejected, and the receiver's status that tells it.
#[derive(Default)]
struct Outcome {
    failed: u64,
    first_error: Option<Error>,
    /// Of the requests the receiver accepted; counted only for an observer.
    delivered_data_points: u64,
    rejected_data_points: u64,
    /// Of the first failed request, or of the last request while none failed.
    status: Option<ResponseStatus>,
}

impl Outcome {
    fn fail(&mut self, error: Error) {
        if self.failed == 0 {
            // The status of a success says nothing about the failure.
            self.status = None;
        }
        self.failed += 1;
        self.first_error.get_or_insert(error);
    }

    /// Takes the status of a request that just ended (after `fail` if it failed).
    fn answered(&mut self, status: Option<ResponseStatus>, failed: bool) {
        if self.failed == 0 || (failed && self.failed == 1) {
            self.status = status;
        }
    }
}

impl Delivery {
    pub(super) fn new(
        shared: Arc<Shared>,
        transport: Transport,
        cancel: CancellationToken,
    ) -> Delivery {
        Delivery {
            shared,
            transport,
            cancel,
        }
    }

    /// Delivers one serialized `ExportMetricsServiceRequest`: splits it within
    /// `max_request_bytes`, prepares the pieces' wire bodies, sends each with the retry
    /// policy within `deadline`, and counts the outcome. The CPU work (split, OTLP/JSON,
    /// gzip) is done before the first await, so on the thread that polls this first.
    ///
    /// The first failure is the result; the other pieces are still tried. A piece too
    /// large to send is reported after the pieces' own failures. A piece the receiver
    /// refuses as too large is split in two and the halves sent in its place, down to
    /// one data point (each split counts as a retry). Shutdown cancels the
    /// delivery ([`ErrorKind::Shutdown`]), and so does the call's `cancel` signal
    /// ([`ErrorKind::Cancelled`]).
    pub(super) async fn deliver(
        &self,
        request: Bytes,
        deadline: Option<Instant>,
        cancel: Option<&Cancel>,
    ) -> Result<()> {
        let observed = self.shared.observer.get().map(|observer| {
            let data_points = count::data_points(&request);
            observer.started(data_points);
            (observer, data_points, Instant::now())
        });
        let max_request_bytes = self.shared.settings.max_request_bytes;
        let split = split::split_request(request, max_request_bytes);
        let prepared: Vec<Result<Prepared>> = split
            .requests
            .into_iter()
            .map(|request| self.prepare(request))
            .collect();

        let mut outcome = Outcome::default();
        let stopped_by = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Some(upload_cancelled()),
            _ = cancel::triggered(cancel) => Some(cancel::cancelled()),
            _ = self.send_all(prepared, deadline, &mut outcome) => None,
        };
        let result = if let Some(error) = stopped_by {
            outcome.failed += 1;
            outcome.status = None;
            Err(error)
        } else {
            if !split.oversized.is_empty() {
                outcome.fail(oversized_error(&split.oversized, max_request_bytes));
            }
            outcome.first_error.take().map_or(Ok(()), Err)
        };
        Stats::add(&self.shared.stats.requests_failed, outcome.failed);
        if let Some((observer, data_points, started)) = observed {
            observer.finished(&DeliveryReport {
                data_points,
                delivered_data_points: outcome.delivered_data_points.min(data_points),
                rejected_data_points: outcome
                    .rejected_data_points
                    .min(outcome.delivered_data_points.min(data_points)),
                duration: started.elapsed(),
                error: result.as_ref().err(),
                status: outcome.status,
            });
        }
        result
    }

    /// A serialized request and its wire body.
    fn prepare(&self, request: Bytes) -> Result<Prepared> {
        Ok(Prepared {
            body: self.transport.wire_body(&request)?,
            request,
        })
    }

    /// Sends the pieces in order, recording each failure in `outcome`; a piece refused
    /// as too large is replaced by its halves.
    async fn send_all(
        &self,
        prepared: Vec<Result<Prepared>>,
        deadline: Option<Instant>,
        outcome: &mut Outcome,
    ) {
        // A stack, next piece last, so that halves go out in their place.
        let mut pending: Vec<Result<Prepared>> = prepared.into_iter().rev().collect();
        while let Some(piece) = pending.pop() {
            let piece = match piece {
                Ok(piece) => piece,
                Err(error) => {
                    outcome.fail(error);
                    continue;
                }
            };
            let mut status = None;
            match self.send_one(&piece, deadline, &mut status).await {
                Ok(rejected) => {
                    if self.shared.observer.get().is_some() {
                        outcome.delivered_data_points += count::data_points(&piece.request);
                    }
                    outcome.rejected_data_points += rejected;
                    outcome.answered(status, false);
                }
                Err(Undelivered::Failed(error)) => {
                    outcome.fail(error);
                    outcome.answered(status, true);
                }
                Err(Undelivered::TooLarge(message)) => {
                    let (halves, unsplittable) = self.halve(&piece, &message);
                    if let Some(error) = unsplittable {
                        outcome.fail(error);
                    }
                    pending.extend(halves.into_iter().rev());
                }
            }
        }
    }

    /// A piece the receiver refused as too large (`message`), split at message boundaries
    /// into about two halves; what cannot be made smaller (one data point) is the error.
    fn halve(&self, piece: &Prepared, message: &str) -> (Vec<Result<Prepared>>, Option<Error>) {
        let len = piece.request.len();
        let mut split = split::split_request(piece.request.clone(), (len / 2).max(1));
        if !split.oversized.is_empty() {
            // A part over half the size: split only as far as needed to set it apart.
            split = split::split_request(piece.request.clone(), len.saturating_sub(1).max(1));
        }
        let unsplittable = (!split.oversized.is_empty()).then(|| {
            Error::refused(format!(
                "the receiver refused a request as too large ({message}) and {} cannot be split further: {}",
                if split.oversized.len() == 1 { "this part" } else { "these parts" },
                summarize(&split.oversized)
            ))
        });
        if !split.requests.is_empty() {
            Stats::add(&self.shared.stats.retries, 1);
            self.shared.settings.logger.warn(&format!(
                "the receiver refused a request of {len} bytes as too large ({message}); sending it in {} smaller requests",
                split.requests.len()
            ));
        }
        let halves = split
            .requests
            .into_iter()
            .map(|request| self.prepare(request))
            .collect();
        (halves, unsplittable)
    }

    /// Sends one request with the retry policy, within `deadline`; counts its success.
    /// The data points the receiver rejected; `status` gets the last answer's.
    async fn send_one(
        &self,
        piece: &Prepared,
        deadline: Option<Instant>,
        status: &mut Option<ResponseStatus>,
    ) -> std::result::Result<u64, Undelivered> {
        let accepted = self.send_with_retry(&piece.body, deadline, status).await?;
        Stats::add(&self.shared.stats.requests_sent, 1);
        Stats::add(&self.shared.stats.bytes_sent, piece.request.len() as u64);
        self.report_partial_success(&accepted);
        Ok(accepted.rejected_data_points.max(0) as u64)
    }

    /// `status` gets the status of each answer as it comes.
    async fn send_with_retry(
        &self,
        body: &Bytes,
        deadline: Option<Instant>,
        status: &mut Option<ResponseStatus>,
    ) -> std::result::Result<Accepted, Undelivered> {
        let mut backoff = Backoff::new(self.shared.settings.retry);
        let deadline_passed = |last: &str| {
            Error::timeout(format!(
                "the deadline passed before the receiver accepted the data; last error: {last}"
            ))
        };
        loop {
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if remaining == Some(Duration::ZERO) {
                return Err(deadline_passed("none (no time left to try)").into());
            }
            // This attempt's answer, if it gets one.
            *status = None;
            let outcome = match self.attempt_headers() {
                Err(error) => Err(error),
                Ok(extra) => {
                    let attempt = self.transport.send(body, remaining, extra.as_ref());
                    match deadline {
                        Some(deadline) => {
                            // The timer is armed before the attempt starts: arming it
                            // wakes the runtime's worker when the worker sleeps with no
                            // earlier timer, and the attempt wakes the worker anyway, so
                            // armed first the two wake-ups are one (armed after, as
                            // `tokio::time::timeout` does, they are often two).
                            tokio::select! {
                                biased;
                                _ = tokio::time::sleep_until(deadline.into()) => {
                                    return Err(deadline_passed(
                                        "the receiver did not answer in time",
                                    )
                                    .into())
                                }
                                outcome = attempt => outcome,
                            }
                        }
                        None => attempt.await,
                    }
                }
            };
            let error = match outcome {
                Ok(accepted) => {
                    *status = accepted.status;
                    return Ok(accepted);
                }
                Err(error) => error,
            };
            *status = error.status;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(deadline_passed(&error.message).into());
            }
            if error.too_large {
                return Err(Undelivered::TooLarge(error.message));
            }
            if !error.retryable {
                return Err(Error::refused(format!(
                    "the receiver refused the data: {}",
                    error.message
                ))
                .into());
            }
            match backoff.next(error.throttle) {
                NextStep::GiveUp(why) => {
                    return Err(
                        Error::export(format!("{why}; last error: {}", error.message)).into(),
                    )
                }
                NextStep::Wait(wait) => {
                    if deadline.is_some_and(|d| Instant::now() + wait > d) {
                        return Err(Error::timeout(format!(
                            "the next retry (in {wait:?}) would come after the deadline; last error: {}",
                            error.message
                        ))
                        .into());
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

    /// What the header callback adds to the next attempt (on this thread); its failure
    /// fails the attempt, retryably.
    fn attempt_headers(&self) -> std::result::Result<Option<AttemptHeaders>, AttemptError> {
        let Some(callback) = &self.shared.settings.header_callback else {
            return Ok(None);
        };
        callback.headers().map(Some).map_err(|why| {
            AttemptError::retryable(
                format!("the header callback failed the attempt: {why}"),
                None,
            )
        })
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

/// The error of a delivery that shutdown cancelled.
fn upload_cancelled() -> Error {
    Error::new(
        ErrorKind::Shutdown,
        "the exporter was shut down while the upload was in progress",
    )
}

/// The error for what [`split::split_request`] could not fit in `max_request_bytes`.
fn oversized_error(oversized: &[String], max_request_bytes: usize) -> Error {
    Error::refused(format!(
        "{} over max_request_bytes ({max_request_bytes}) could not be sent; the rest was: {}",
        if oversized.len() == 1 {
            "one piece"
        } else {
            "some pieces"
        },
        summarize(oversized)
    ))
}

/// A bounded list of what was left out.
fn summarize(items: &[String]) -> String {
    let mut text = items.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 3 {
        text.push_str(&format!(" and {} more", items.len() - 3));
    }
    text
}
