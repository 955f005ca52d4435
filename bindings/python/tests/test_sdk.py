"""otlpmetric.sdk.OTLPMetricExporter with the OpenTelemetry Python SDK."""

from __future__ import annotations

from typing import Any, Iterator, List

import pytest

pytest.importorskip("opentelemetry.sdk.metrics")
pytest.importorskip("opentelemetry.exporter.otlp.proto.common")

from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics  # noqa: E402
from opentelemetry.metrics import CallbackOptions, Observation  # noqa: E402
from opentelemetry.proto.metrics.v1 import metrics_pb2  # noqa: E402
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import (  # noqa: E402
    AggregationTemporality,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import (  # noqa: E402
    DropAggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
)
from opentelemetry.sdk.resources import Resource  # noqa: E402

from otlpmetric import Aggregation, AggregationKind, InstrumentKind, Temporality  # noqa: E402
from otlpmetric.sdk import OTLPMetricExporter, _sync_gauge_class, instrument_classes  # noqa: E402
from otlp_receiver import Reply  # noqa: E402

DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE


class Recording(OTLPMetricExporter):
    """Keeps what the SDK handed to export, to compare with what arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exported: List[MetricsData] = []
        self.results: List[MetricExportResult] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.exported.append(metrics_data)
        result = super().export(metrics_data, timeout_millis, **kwargs)
        self.results.append(result)
        return result


class Setup:
    def __init__(self, exporter: Recording) -> None:
        self.exporter = exporter
        self.reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        self.provider = MeterProvider(
            metric_readers=[self.reader], resource=Resource.create({"service.name": "sdk-test"})
        )
        self.meter = self.provider.get_meter("otlpmetric.tests.sdk", "1.2.3")
        self.gauge_value = 0.0

        def observe(options: CallbackOptions) -> Iterator[Observation]:
            yield Observation(self.gauge_value, {"room": "lab"})

        self.counter = self.meter.create_counter("requests", unit="1", description="requests served")
        self.histogram = self.meter.create_histogram("latency", unit="ms")
        self.updown = self.meter.create_up_down_counter("queue.depth")
        self.meter.create_observable_gauge("temperature", callbacks=[observe], unit="Cel")

    def collect(self) -> None:
        assert self.provider.force_flush(10_000)


@pytest.fixture
def setup_factory(front: Any, receiver: Any) -> Iterator[Any]:
    made: List[Setup] = []

    def make(**kwargs: Any) -> Setup:
        kwargs.setdefault("endpoint", receiver.url)
        kwargs.setdefault("retry", False)
        native = front.Exporter(**kwargs)
        s = Setup(Recording(exporter=native))
        s.native = native
        made.append(s)
        return s

    yield make
    for s in made:
        s.provider.shutdown()
        s.native.close()


def metrics_by_name(request: Any) -> dict:
    return {
        m.name: m
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }


def test_sdk_round_trip(setup_factory: Any, receiver: Any) -> None:
    s = setup_factory()
    s.counter.add(3, {"route": "/a"})
    s.counter.add(2, {"route": "/a"})
    for v in (1, 7, 30, 700):
        s.histogram.record(v)
    s.updown.add(10)
    s.updown.add(-4)
    s.gauge_value = 21.5
    s.collect()

    (got,) = receiver.wait_for(1)
    assert s.exporter.results == [MetricExportResult.SUCCESS]
    # Exactly what the SDK's own encoder makes of the same data.
    expected = encode_metrics(s.exporter.exported[0])
    assert got.request() == expected
    assert got.body == expected.SerializeToString()

    req = got.request()
    rm = req.resource_metrics[0]
    assert {kv.key: kv.value.string_value for kv in rm.resource.attributes}["service.name"] == "sdk-test"
    assert rm.scope_metrics[0].scope.name == "otlpmetric.tests.sdk"
    metrics = metrics_by_name(req)
    assert set(metrics) == {"requests", "latency", "queue.depth", "temperature"}

    requests = metrics["requests"].sum
    assert requests.is_monotonic and requests.aggregation_temporality == CUMULATIVE
    assert [p.as_int for p in requests.data_points] == [5]
    assert requests.data_points[0].attributes[0].value.string_value == "/a"

    latency = metrics["latency"].histogram
    assert latency.aggregation_temporality == CUMULATIVE
    point = latency.data_points[0]
    assert (point.count, point.sum, point.min, point.max) == (4, 738, 1, 700)
    assert list(point.explicit_bounds) == [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]

    depth = metrics["queue.depth"].sum
    assert not depth.is_monotonic and [p.as_int for p in depth.data_points] == [6]

    temperature = metrics["temperature"].gauge
    assert [p.as_double for p in temperature.data_points] == [21.5]
    assert metrics["temperature"].unit == "Cel"


def test_delta_from_the_native_selector(setup_factory: Any, receiver: Any, front: Any) -> None:
    K, T = front.InstrumentKind, front.Temporality
    s = setup_factory(temporality=lambda kind: T.DELTA if kind in (K.COUNTER, K.HISTOGRAM) else T.CUMULATIVE)
    assert s.exporter._preferred_temporality[Counter] == AggregationTemporality.DELTA
    assert s.exporter._preferred_temporality[Histogram] == AggregationTemporality.DELTA

    s.counter.add(5)
    s.histogram.record(3)
    s.updown.add(1)
    s.collect()
    s.counter.add(2)
    s.updown.add(1)
    s.collect()

    first, second = (r.request() for r in receiver.wait_for(2))
    assert [r.request() for r in receiver.requests] == [encode_metrics(d) for d in s.exporter.exported]
    m1, m2 = metrics_by_name(first), metrics_by_name(second)
    assert m1["requests"].sum.aggregation_temporality == DELTA
    assert [p.as_int for p in m1["requests"].sum.data_points] == [5]
    assert [p.as_int for p in m2["requests"].sum.data_points] == [2]  # delta: only what is new
    assert m1["latency"].histogram.aggregation_temporality == DELTA
    assert m2["queue.depth"].sum.aggregation_temporality == CUMULATIVE
    assert [p.as_int for p in m2["queue.depth"].sum.data_points] == [2]


def test_aggregation_from_the_native_selector(setup_factory: Any, receiver: Any, front: Any) -> None:
    K, A = front.InstrumentKind, front.AggregationKind

    def select(kind: Any, default: Any) -> Any:
        if kind == K.HISTOGRAM:
            return front.Aggregation(A.EXPLICIT_BUCKET_HISTOGRAM, (1, 10), record_min_max=False)
        if kind == K.UP_DOWN_COUNTER:
            return front.Aggregation(A.DROP)
        return None

    s = setup_factory(aggregation=select)
    s.histogram.record(5)
    s.updown.add(3)
    s.counter.add(1)
    s.collect()
    (got,) = receiver.wait_for(1)
    metrics = metrics_by_name(got.request())
    assert "queue.depth" not in metrics  # dropped
    point = metrics["latency"].histogram.data_points[0]
    assert list(point.explicit_bounds) == [1, 10]
    assert list(point.bucket_counts) == [0, 1, 0]
    # record_min_max=False reached the SDK (it then encodes min=+inf, max=-inf).
    assert point.min != 5 and point.max != 5
    assert got.request() == encode_metrics(s.exporter.exported[0])


def test_preferences_mapping() -> None:
    import otlpmetric

    K, A, T = InstrumentKind, AggregationKind, Temporality
    native = otlpmetric.Exporter(
        temporality={K.OBSERVABLE_COUNTER: T.DELTA},
        aggregation={
            K.HISTOGRAM: Aggregation(A.BASE2_EXPONENTIAL_HISTOGRAM, max_size=80, max_scale=10),
            K.COUNTER: Aggregation(A.EXPLICIT_BUCKET_HISTOGRAM, (2, 4)),
            K.OBSERVABLE_GAUGE: Aggregation(A.DROP),
        },
    )
    try:
        exporter = OTLPMetricExporter(exporter=native)
        classes = instrument_classes()
        # Seven kinds; SDKs before 1.23 have no synchronous gauge.
        assert len(classes) == (7 if _sync_gauge_class() is not None else 6)
        temporality = exporter._preferred_temporality
        assert temporality[classes[K.OBSERVABLE_COUNTER]] == AggregationTemporality.DELTA
        assert temporality[classes[K.UP_DOWN_COUNTER]] == AggregationTemporality.CUMULATIVE
        aggregation = exporter._preferred_aggregation
        assert isinstance(aggregation[classes[K.HISTOGRAM]], ExponentialBucketHistogramAggregation)
        assert aggregation[classes[K.HISTOGRAM]]._max_size == 80
        assert aggregation[classes[K.HISTOGRAM]]._max_scale == 10
        assert isinstance(aggregation[classes[K.COUNTER]], ExplicitBucketHistogramAggregation)
        assert list(aggregation[classes[K.COUNTER]]._boundaries) == [2, 4]
        assert isinstance(aggregation[classes[K.OBSERVABLE_GAUGE]], DropAggregation)
        # Defaults are left to the SDK's DefaultAggregation.
        assert classes[K.UP_DOWN_COUNTER] not in aggregation
        # The SDK's reader takes these classes.
        PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000).shutdown()
    finally:
        native.close()


def test_export_failure_and_shutdown(setup_factory: Any, receiver: Any) -> None:
    receiver.default = Reply(status=400)
    s = setup_factory()
    s.counter.add(1)
    s.collect()
    assert s.exporter.results == [MetricExportResult.FAILURE]
    receiver.default = Reply()
    s.counter.add(1)
    s.collect()
    assert s.exporter.results[-1] == MetricExportResult.SUCCESS
    s.provider.shutdown()
    with pytest.raises(Exception):
        s.native.upload(b"")  # shut down by the SDK's shutdown
    assert s.exporter.export(s.exporter.exported[-1]) == MetricExportResult.FAILURE


def test_owned_exporter_from_keywords(receiver: Any) -> None:
    exporter = OTLPMetricExporter(endpoint=receiver.url, retry=False, temporality=Temporality.DELTA)
    assert set(exporter._preferred_temporality.values()) == {AggregationTemporality.DELTA}
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=50)
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("periodic").create_counter("ticks").add(1)
    receiver.wait_for(1, timeout=10)
    provider.shutdown()
    assert exporter.exporter.closed  # created by it, freed by its shutdown
    with pytest.raises(TypeError):
        OTLPMetricExporter(exporter=exporter.exporter, endpoint="http://x")
