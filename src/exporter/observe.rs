//! What an exporter tells an observer about each delivery: the hook the meter provider's
//! exporter metrics (`otel.sdk.exporter.*`) stand on, without the exporter knowing them.

use std::time::Duration;

use crate::error::Error;
pub(crate) use crate::transport::ResponseStatus;

/// How one delivery (one export operation: every attempt, retry and split) ended.
#[derive(Debug)]
pub(crate) struct DeliveryReport<'a> {
    /// The data points the delivery was given.
    pub data_points: u64,
    /// Of those, the points in requests the receiver accepted; the rest failed.
    pub delivered_data_points: u64,
    /// Of the delivered points, those the receiver rejected (partial success).
    pub rejected_data_points: u64,
    /// From the start of the first attempt to the end of the last.
    pub duration: Duration,
    /// The delivery's failure, if it failed.
    pub error: Option<&'a Error>,
    /// The receiver's status of the first failed request, or of the last request when
    /// none failed; `None` when no answer came.
    pub status: Option<ResponseStatus>,
}

/// Told of every delivery, on the thread that runs it; must return quickly.
pub(crate) trait DeliveryObserver: Send + Sync {
    /// A delivery of `data_points` begins.
    fn started(&self, data_points: u64);
    /// The delivery that began with `report.data_points` ended.
    fn finished(&self, report: &DeliveryReport<'_>);
}
