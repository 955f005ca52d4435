"""An OpenTelemetry Python SDK ``MetricExporter`` that exports through the native library.

::

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from otlpmetric.sdk import OTLPMetricExporter

    exporter = OTLPMetricExporter(endpoint="http://localhost:4318/v1/metrics")
    provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(exporter)])

The SDK's data is encoded with the SDK's own OTLP encoder (package
``opentelemetry-exporter-otlp-proto-common``, no grpcio) and handed to
``otlpmetric_exporter_upload_request``. Temporality and aggregation preferences come
from the native exporter (its selectors, or the ``OTEL_EXPORTER_OTLP_METRICS_*``
environment), so the library is the one place where they are decided.
"""

from __future__ import annotations

import inspect
import logging
import math
from typing import Any, Dict, Optional

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.metrics.view import (
    Aggregation as SdkAggregation,
    DropAggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    LastValueAggregation,
    SumAggregation,
)

try:
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
except ImportError:  # pragma: no cover - older layouts
    from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics

from . import _core
from ._types import (
    Aggregation,
    AggregationKind,
    Error,
    InstrumentKind,
    Temporality,
    _default_aggregation,
    _normalized,
)

__all__ = ["OTLPMetricExporter", "instrument_classes"]

_logger = logging.getLogger("otlpmetric.sdk")


def _sync_gauge_class() -> Optional[type]:
    """The SDK's synchronous gauge class as ``MetricReader`` knows it (``_Gauge`` in the
    SDKs that have it, ``Gauge`` later); None for SDKs without one."""
    import opentelemetry.sdk.metrics as m

    for name in ("_Gauge", "Gauge"):
        cls = getattr(m, name, None)
        if isinstance(cls, type):
            return cls
    return None


def instrument_classes() -> Dict[InstrumentKind, type]:
    """The SDK instrument class of every instrument kind this SDK has."""
    classes = {
        InstrumentKind.COUNTER: Counter,
        InstrumentKind.UP_DOWN_COUNTER: UpDownCounter,
        InstrumentKind.HISTOGRAM: Histogram,
        InstrumentKind.OBSERVABLE_COUNTER: ObservableCounter,
        InstrumentKind.OBSERVABLE_UP_DOWN_COUNTER: ObservableUpDownCounter,
        InstrumentKind.OBSERVABLE_GAUGE: ObservableGauge,
    }
    gauge = _sync_gauge_class()
    if gauge is not None:
        classes[InstrumentKind.GAUGE] = gauge
    return classes


_TEMPORALITIES = {
    Temporality.DELTA: AggregationTemporality.DELTA,
    Temporality.CUMULATIVE: AggregationTemporality.CUMULATIVE,
}


def _exponential(agg: Aggregation) -> SdkAggregation:
    params = inspect.signature(ExponentialBucketHistogramAggregation.__init__).parameters
    kwargs: Dict[str, Any] = {"max_size": agg.max_size, "max_scale": agg.max_scale}
    if "record_min_max" in params:
        kwargs["record_min_max"] = agg.record_min_max
    return ExponentialBucketHistogramAggregation(**kwargs)


def sdk_aggregation(agg: Aggregation) -> SdkAggregation:
    """The SDK aggregation object for a native :class:`~otlpmetric.Aggregation`."""
    if agg.kind == AggregationKind.DROP:
        return DropAggregation()
    if agg.kind == AggregationKind.SUM:
        return SumAggregation()
    if agg.kind == AggregationKind.LAST_VALUE:
        return LastValueAggregation()
    if agg.kind == AggregationKind.EXPLICIT_BUCKET_HISTOGRAM:
        return ExplicitBucketHistogramAggregation(boundaries=list(agg.boundaries), record_min_max=agg.record_min_max)
    if agg.kind == AggregationKind.BASE2_EXPONENTIAL_HISTOGRAM:
        return _exponential(agg)
    raise ValueError(f"unknown aggregation kind {agg.kind!r}")


def _timeout_ms(timeout_millis: Optional[float]) -> int:
    """The SDK's float milliseconds as the library's: 0 would mean "the configured
    timeout", so a deadline already spent becomes 1 ms; no deadline becomes 0."""
    if timeout_millis is None or (isinstance(timeout_millis, float) and math.isinf(timeout_millis)):
        return 0
    return min(max(1, int(math.ceil(timeout_millis))), 0xFFFFFFFF)


class OTLPMetricExporter(MetricExporter):
    """A ``MetricExporter`` for the SDK's metric readers (``PeriodicExportingMetricReader``).

    Give either an existing exporter (``exporter=otlpmetric.Exporter(...)`` or an
    ``otlpmetric.cffi.Exporter``; it stays the caller's to close) or the keyword
    arguments of :class:`otlpmetric.Exporter` (a ctypes exporter is created, and freed
    on :meth:`shutdown`).

    ``preferred_temporality`` and ``preferred_aggregation`` are the native exporter's
    answers for each SDK instrument class; an aggregation equal to the kind's default is
    left to the SDK's ``DefaultAggregation`` (the same, and it honours an instrument's
    advisory bucket boundaries).
    """

    def __init__(self, exporter: Optional[_core.Exporter] = None, **kwargs: Any) -> None:
        if exporter is not None:
            if kwargs:
                raise TypeError("give either an exporter or Exporter keyword arguments, not both")
            if not isinstance(exporter, _core.Exporter):
                raise TypeError(f"exporter must be an otlpmetric Exporter, not {type(exporter).__name__}")
            self._exporter = exporter
            self._owned = False
        else:
            from . import Exporter

            self._exporter = Exporter(**kwargs)
            self._owned = True

        preferred_temporality: Dict[type, AggregationTemporality] = {}
        preferred_aggregation: Dict[type, SdkAggregation] = {}
        for kind, cls in instrument_classes().items():
            preferred_temporality[cls] = _TEMPORALITIES[Temporality(self._exporter.temporality(kind))]
            native = self._exporter.aggregation(kind)
            if native != _normalized(_default_aggregation(kind)):
                preferred_aggregation[cls] = sdk_aggregation(native)
        super().__init__(
            preferred_temporality=preferred_temporality,
            preferred_aggregation=preferred_aggregation,
        )

    @property
    def exporter(self) -> _core.Exporter:
        """The native exporter in use."""
        return self._exporter

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        try:
            request = encode_metrics(metrics_data)
        except Exception:
            _logger.exception("otlpmetric: the SDK's metrics could not be encoded")
            return MetricExportResult.FAILURE
        if not request.resource_metrics:
            return MetricExportResult.SUCCESS
        try:
            self._exporter.upload_request(request.SerializeToString(), timeout_ms=_timeout_ms(timeout_millis))
        except Error as e:
            _logger.error("otlpmetric: export failed: %s", e)
            return MetricExportResult.FAILURE
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        try:
            self._exporter.force_flush(timeout_ms=_timeout_ms(timeout_millis))
        except Error as e:
            _logger.warning("otlpmetric: force_flush failed: %s", e)
            return False
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        try:
            self._exporter.shutdown(timeout_ms=_timeout_ms(timeout_millis))
        except Error as e:
            _logger.warning("otlpmetric: shutdown: %s", e)
        finally:
            if self._owned:
                self._exporter.close()
