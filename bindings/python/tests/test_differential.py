"""The differential test: seeded random measurements go through our provider's
``collect()`` and through the OpenTelemetry Python SDK (``InMemoryMetricReader`` with the
same temporality and aggregation); the data points must be equal.

The known, intended differences are normalised explicitly, each where it is done and
with its reason: ``exponential_buckets`` (the SDK's zero padding), ``sdk()`` (its sum of
an up-down counter's histogram), ``check_times`` (timestamps compared for order only),
``scale_without_buckets`` (the scale of a histogram of only zeros), ``close_floats``
(rounding of float sums), ``replayed`` (the SDK's cumulative exponential merge raises).
Histogram values are non-negative here (the SDK drops negative ones, we record them:
``test_negative_histogram_values``). A delta observable sum series that skips a
collection reports the change since its last observation, as the SDK does
(``test_observed_sum_series_that_skips_a_collection``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import pytest
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.metrics.v1.metrics_pb2 import ResourceMetrics
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider as SdkMeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
    _Gauge,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, ExponentialBucketHistogramAggregation

import otlpmetric

ATTRIBUTE_SETS: List[Dict[str, Any]] = [
    {},
    {"route": "/a"},
    {"route": "/b", "ok": True},
    {"n": 3, "ratio": 0.5},
]
SYNC_KINDS = ("counter", "up_down_counter", "histogram", "gauge")
OBSERVABLE_KINDS = ("observable_counter", "observable_up_down_counter", "observable_gauge")
ROUNDS = 4
MEASUREMENTS_PER_ROUND = 40

Key = Tuple[str, Tuple[Tuple[str, str, Any], ...]]


@dataclass
class HistogramConfig:
    name: str
    ours: otlpmetric.Aggregation
    sdk: Any


HISTOGRAMS = [
    HistogramConfig(
        "explicit-default",
        otlpmetric.Aggregation(otlpmetric.AggregationKind.EXPLICIT_BUCKET_HISTOGRAM, otlpmetric.DEFAULT_BOUNDARIES),
        ExplicitBucketHistogramAggregation(),
    ),
    HistogramConfig(
        "explicit-custom",
        otlpmetric.Aggregation(otlpmetric.AggregationKind.EXPLICIT_BUCKET_HISTOGRAM, (0.0, 1.0, 10.0, 100.0, 1000.0)),
        ExplicitBucketHistogramAggregation(boundaries=(0.0, 1.0, 10.0, 100.0, 1000.0)),
    ),
    *[
        HistogramConfig(
            f"exponential-{size}-{scale}",
            otlpmetric.Aggregation(
                otlpmetric.AggregationKind.BASE2_EXPONENTIAL_HISTOGRAM, max_size=size, max_scale=scale
            ),
            ExponentialBucketHistogramAggregation(max_size=size, max_scale=scale),
        )
        for size, scale in ((160, 20), (16, 10), (4, 20), (2, 3))
    ],
]


@dataclass
class Sequence:
    """Per round: the synchronous measurements (instrument name, value, attribute set
    index) and what each observable instrument's callback observes."""

    sync: List[List[Tuple[str, Any, int]]] = field(default_factory=list)
    observed: List[Dict[str, List[Tuple[Any, int]]]] = field(default_factory=list)


def instrument_name(kind: str, number: Any) -> str:
    return f"{kind}_{number.__name__}"


def generate(seed: int) -> Sequence:
    rng = random.Random(seed)

    def value(kind: str, number: Any) -> Any:
        if kind == "histogram":
            # Non-negative: the SDK drops negative histogram records, we record them
            # (test_negative_histogram_values covers those). Several magnitudes and zeros,
            # so that exponential histograms rescale and count zeros.
            if rng.random() < 0.1:
                return number(0)
            if number is int:
                return rng.choice([rng.randint(1, 10), rng.randint(1, 5000)])
            return round(10 ** rng.uniform(-3, 4), 6)
        low = 0 if kind == "counter" else -50
        if number is int:
            return rng.randint(low, 100)
        return round(rng.uniform(low, 100), 3)

    seq = Sequence()
    totals: Dict[Tuple[str, int], Any] = {}
    for _ in range(ROUNDS):
        measurements = []
        for _ in range(MEASUREMENTS_PER_ROUND):
            kind = rng.choice(SYNC_KINDS)
            number = rng.choice([int, float])
            measurements.append((instrument_name(kind, number), value(kind, number), rng.randrange(len(ATTRIBUTE_SETS))))
        seq.sync.append(measurements)
        observed: Dict[str, List[Tuple[Any, int]]] = {}
        for kind in OBSERVABLE_KINDS:
            for number in (int, float):
                name = instrument_name(kind, number)
                points = []
                if kind == "observable_gauge":
                    indices = rng.sample(range(len(ATTRIBUTE_SETS)), rng.randint(1, len(ATTRIBUTE_SETS)))
                else:
                    # Every series in every round: what the SDK and we do with a series
                    # that skips a collection differs (test_observed_sum_series_that_skips_a_collection).
                    indices = list(range(len(ATTRIBUTE_SETS)))
                for index in indices:
                    if kind == "observable_counter":
                        # A monotonic total: grows from round to round.
                        step = rng.randint(0, 20) if number is int else round(rng.uniform(0, 20), 3)
                        totals[(name, index)] = totals.get((name, index), number(0)) + step
                        points.append((totals[(name, index)], index))
                    else:
                        points.append((value("up_down_counter", number), index))
                observed[name] = points
        seq.observed.append(observed)
    return seq


def attributes_key(attributes: Dict[str, Any]) -> Tuple[Tuple[str, str, Any], ...]:
    return tuple(sorted((k, type(v).__name__, v) for k, v in attributes.items()))


def strip_trailing_zeros(counts: Iterable[int]) -> List[int]:
    counts = list(counts)
    while counts and counts[-1] == 0:
        counts.pop()
    return counts


def exponential_buckets(offset: int, counts: Iterable[int]) -> Tuple[Optional[int], List[int]]:
    # The SDK pads its bucket arrays with trailing zeros; an empty array's offset means nothing.
    counts = strip_trailing_zeros(counts)
    return (offset if counts else None), counts


# -- our side ------------------------------------------------------------------------------


def proto_value(point: Any) -> Any:
    return getattr(point, point.WhichOneof("value"))


def proto_attributes(point: Any) -> Dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in point.attributes}


def optional(point: Any, name: str) -> Any:
    return getattr(point, name) if point.HasField(name) else None


def ours(data: bytes) -> Dict[Key, Dict[str, Any]]:
    rm = ResourceMetrics.FromString(data)
    out: Dict[Key, Dict[str, Any]] = {}
    for sm in rm.scope_metrics:
        for metric in sm.metrics:
            which = metric.WhichOneof("data")
            data_field = getattr(metric, which)
            for p in data_field.data_points:
                d: Dict[str, Any] = {"type": which, "times": (p.start_time_unix_nano, p.time_unix_nano)}
                if which != "gauge":
                    d["temporality"] = data_field.aggregation_temporality
                if which == "sum":
                    d["monotonic"] = data_field.is_monotonic
                if which in ("sum", "gauge"):
                    d["value"] = proto_value(p)
                elif which == "histogram":
                    d.update(count=p.count, sum=optional(p, "sum"), bounds=list(p.explicit_bounds),
                             buckets=list(p.bucket_counts), min=optional(p, "min"), max=optional(p, "max"))
                else:
                    d.update(count=p.count, sum=optional(p, "sum"), scale=p.scale, zero_count=p.zero_count,
                             positive=exponential_buckets(p.positive.offset, p.positive.bucket_counts),
                             negative=exponential_buckets(p.negative.offset, p.negative.bucket_counts),
                             min=optional(p, "min"), max=optional(p, "max"))
                out[(metric.name, attributes_key(proto_attributes(p)))] = d
    return out


# -- the SDK's side ------------------------------------------------------------------------


def sdk(reader: InMemoryMetricReader) -> Dict[Key, Dict[str, Any]]:
    out: Dict[Key, Dict[str, Any]] = {}
    data = reader.get_metrics_data()
    if data is None:
        return out
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                which = {
                    "Sum": "sum", "Gauge": "gauge", "Histogram": "histogram",
                    "ExponentialHistogram": "exponential_histogram",
                }[type(metric.data).__name__]
                for p in metric.data.data_points:
                    d: Dict[str, Any] = {"type": which, "times": (p.start_time_unix_nano or 0, p.time_unix_nano)}
                    if which != "gauge":
                        d["temporality"] = int(metric.data.aggregation_temporality.value)
                    if which == "sum":
                        d["monotonic"] = metric.data.is_monotonic
                    if which in ("sum", "gauge"):
                        d["value"] = p.value
                    elif which == "histogram":
                        d.update(count=p.count, sum=p.sum, bounds=list(p.explicit_bounds),
                                 buckets=list(p.bucket_counts), min=p.min, max=p.max)
                    else:
                        d.update(count=p.count, sum=p.sum, scale=p.scale, zero_count=p.zero_count,
                                 positive=exponential_buckets(p.positive.offset, p.positive.bucket_counts),
                                 negative=exponential_buckets(p.negative.offset, p.negative.bucket_counts),
                                 min=p.min, max=p.max)
                    if which in ("histogram", "exponential_histogram") and metric.name.startswith("up_down_counter"):
                        # A histogram of an up-down counter: the SDK keeps a sum; we do not
                        # (the data model's sum is for non-negative measurements only).
                        d["sum"] = None
                    out[(metric.name, attributes_key(dict(p.attributes or {})))] = d
    return out


# -- the comparison ------------------------------------------------------------------------


def scale_without_buckets(point: Dict[str, Any], sdk_point: Dict[str, Any]) -> Dict[str, Any]:
    """The SDK gives an exponential histogram of only zeros scale 0, we the configured
    max_scale: with no bucket, every scale describes it equally."""
    if point.get("type") != "exponential_histogram" or sdk_point.get("type") != "exponential_histogram":
        return point
    no_buckets = ((None, []), (None, []))
    if (point["positive"], point["negative"]) == no_buckets == (sdk_point["positive"], sdk_point["negative"]):
        return dict(point, scale=sdk_point["scale"])
    return point


def without_times(points: Dict[Key, Dict[str, Any]]) -> Dict[Key, Dict[str, Any]]:
    return {k: {f: v for f, v in d.items() if f != "times"} for k, d in points.items()}


def check_times(points: Dict[Key, Dict[str, Any]], last_time: Dict[Key, int]) -> None:
    """Timestamps only in order: the SDK's cumulative start time is the series' first
    measurement, ours the provider's start; the SDK sends no start time for gauges."""
    for key, d in points.items():
        start, time = d["times"]
        assert time > 0, key
        if d["type"] != "gauge":
            assert 0 < start <= time, key
        assert time >= last_time.get(key, 0), key
        last_time[key] = time


def close_floats(a: Any, b: Any) -> bool:
    """Equal, floats within rounding: the two implementations do not accumulate a float
    sum in exactly the same way (delta points too), so the last bits may differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close_floats(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(close_floats(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def replayed(seq: Sequence, last_round: int, classes: Tuple[type, ...], aggregation: Any) -> Dict[Key, Dict[str, Any]]:
    """The cumulative points of the synchronous instruments of ``classes`` after
    ``last_round``, from a fresh SDK given every measurement so far and collected once."""
    kinds = {Histogram: "histogram", Counter: "counter", UpDownCounter: "up_down_counter"}
    reader = InMemoryMetricReader(
        preferred_temporality={cls: AggregationTemporality.CUMULATIVE for cls in classes},
        preferred_aggregation={cls: aggregation for cls in classes},
    )
    provider = SdkMeterProvider(metric_readers=[reader])
    try:
        meter = provider.get_meter("differential")
        record = {}
        for cls in classes:
            kind = kinds[cls]
            for number in (int, float):
                instrument = getattr(meter, "create_" + kind)(instrument_name(kind, number))
                record[instrument_name(kind, number)] = instrument.record if kind == "histogram" else instrument.add
        for measurements in seq.sync[: last_round + 1]:
            for name, value, index in measurements:
                if name in record:
                    record[name](value, ATTRIBUTE_SETS[index])
        return sdk(reader)
    finally:
        provider.shutdown()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("temporality", ["delta", "cumulative"])
@pytest.mark.parametrize("histogram", HISTOGRAMS, ids=lambda h: h.name)
@pytest.mark.parametrize("on_counters", [False, True], ids=["histograms", "counters-too"])
def test_same_points_as_the_sdk(seed: int, temporality: str, histogram: HistogramConfig, on_counters: bool) -> None:
    """With ``on_counters``, the histogram aggregation applies to the counters and up-down
    counters too (their negative values included)."""
    seq = generate(seed * 1000 + HISTOGRAMS.index(histogram) * 10 + on_counters)
    current_round = [0]

    our_temporality = otlpmetric.Temporality.DELTA if temporality == "delta" else otlpmetric.Temporality.CUMULATIVE
    sdk_temporality = AggregationTemporality.DELTA if temporality == "delta" else AggregationTemporality.CUMULATIVE
    histogram_classes = (Histogram, Counter, UpDownCounter) if on_counters else (Histogram,)
    histogram_kinds = [otlpmetric.InstrumentKind.HISTOGRAM]
    if on_counters:
        histogram_kinds += [otlpmetric.InstrumentKind.COUNTER, otlpmetric.InstrumentKind.UP_DOWN_COUNTER]
    # The SDK cannot be the oracle of cumulative exponential histograms collected more than
    # once: merging a delta at another scale into its cumulative point raises
    # "Incorrect merge scale". Their expected points come from a fresh SDK fed every
    # measurement so far and collected once (no merge), which is what a cumulative point is.
    replay = temporality == "cumulative" and histogram.ours.kind == otlpmetric.AggregationKind.BASE2_EXPONENTIAL_HISTOGRAM

    def histogram_aggregated(name: str) -> bool:
        return name.startswith("histogram") or (on_counters and name.startswith(("counter", "up_down_counter")))

    reader = InMemoryMetricReader(
        preferred_temporality={
            cls: sdk_temporality
            for cls in (Counter, UpDownCounter, Histogram, _Gauge, ObservableCounter, ObservableUpDownCounter, ObservableGauge)
        },
        preferred_aggregation={} if replay else {cls: histogram.sdk for cls in histogram_classes},
    )
    sdk_provider = SdkMeterProvider(metric_readers=[reader])
    provider = otlpmetric.MeterProvider(
        endpoint="http://127.0.0.1:9/v1/metrics",
        retry=False,
        timeout_ms=1000,
        export_interval_ms=0,
        temporality=our_temporality,
        aggregation={kind: histogram.ours for kind in histogram_kinds},
    )
    try:
        our_meter = provider.meter("differential")
        sdk_meter = sdk_provider.get_meter("differential")
        record: Dict[str, Tuple[Callable[..., None], Callable[..., None]]] = {}
        for kind in SYNC_KINDS:
            for number in (int, float):
                name = instrument_name(kind, number)
                mine = getattr(our_meter, kind)(name, number=number)
                theirs = getattr(sdk_meter, "create_" + kind)(name)
                method = "add" if "counter" in kind else ("set" if kind == "gauge" else "record")
                record[name] = (
                    getattr(mine, "add" if "counter" in kind else "record"),
                    getattr(theirs, method),
                )
        for kind in OBSERVABLE_KINDS:
            for number in (int, float):
                name = instrument_name(kind, number)

                def our_callback(observer: Any, name: str = name) -> None:
                    for value, index in seq.observed[current_round[0]][name]:
                        observer.observe(value, ATTRIBUTE_SETS[index])

                def sdk_callback(options: CallbackOptions, name: str = name) -> Iterable[Observation]:
                    return [Observation(value, ATTRIBUTE_SETS[index]) for value, index in seq.observed[current_round[0]][name]]

                getattr(our_meter, kind)(name, our_callback, number=number)
                getattr(sdk_meter, "create_" + kind)(name, callbacks=[sdk_callback])

        our_times: Dict[Key, int] = {}
        sdk_times: Dict[Key, int] = {}
        for round_index in range(ROUNDS):
            current_round[0] = round_index
            for name, value, index in seq.sync[round_index]:
                mine, theirs = record[name]
                mine(value, ATTRIBUTE_SETS[index])
                theirs(value, ATTRIBUTE_SETS[index])
            got = ours(provider.collect())
            expected = sdk(reader)
            if replay:
                expected = {k: v for k, v in expected.items() if not histogram_aggregated(k[0])}
                expected.update(replayed(seq, round_index, histogram_classes, histogram.sdk))
            check_times(got, our_times)
            check_times(expected, sdk_times)
            got, expected = without_times(got), without_times(expected)
            assert got.keys() == expected.keys(), f"round {round_index}"
            for key in got:
                got[key] = scale_without_buckets(got[key], expected[key])
                differing = {f: (got[key].get(f), expected[key].get(f)) for f in got[key] | expected[key]
                             if not close_floats(got[key].get(f), expected[key].get(f))}
                assert not differing, (round_index, key, "ours, the SDK's:", differing)
    finally:
        provider.close()
        sdk_provider.shutdown()


@pytest.mark.parametrize("histogram", [HISTOGRAMS[1], HISTOGRAMS[2]], ids=lambda h: h.name)
def test_negative_histogram_values(histogram: HistogramConfig) -> None:
    """The SDK drops negative histogram records; we record them (into the first explicit
    bucket, or the exponential histogram's negative buckets)."""
    with otlpmetric.MeterProvider(
        endpoint="http://127.0.0.1:9/v1/metrics", retry=False, timeout_ms=1000, export_interval_ms=0,
        aggregation={otlpmetric.InstrumentKind.HISTOGRAM: histogram.ours},
    ) as provider:
        h = provider.meter("m").histogram("h", number=float)
        for v in (-1.0, -2.0, 4.0):
            h.record(v)
        (point,) = ours(provider.collect()).values()
        assert (point["count"], point["sum"], point["min"], point["max"]) == (3, 1.0, -2.0, 4.0)
        if point["type"] == "histogram":
            assert point["buckets"][0] == 2  # (-inf, 0]
        else:
            assert sum(point["negative"][1]) == 2 and sum(point["positive"][1]) == 1
        provider.close()


@pytest.mark.parametrize("kind", ["observable_counter", "observable_up_down_counter"])
def test_observed_sum_series_that_skips_a_collection(kind: str) -> None:
    totals = [[(5, {"k": "a"}), (3, {"k": "b"})], [(7, {"k": "a"})], [(9, {"k": "a"}), (10, {"k": "b"})]]
    current = [0]
    reader = InMemoryMetricReader(
        preferred_temporality={ObservableCounter: AggregationTemporality.DELTA,
                               ObservableUpDownCounter: AggregationTemporality.DELTA}
    )
    sdk_provider = SdkMeterProvider(metric_readers=[reader])
    getattr(sdk_provider.get_meter("m"), "create_" + kind)(
        "s", callbacks=[lambda options: [Observation(v, a) for v, a in totals[current[0]]]]
    )
    with otlpmetric.MeterProvider(
        endpoint="http://127.0.0.1:9/v1/metrics", retry=False, timeout_ms=1000, export_interval_ms=0,
        temporality=otlpmetric.Temporality.DELTA,
    ) as provider:
        getattr(provider.meter("m"), kind)(
            "s", lambda observer: [observer.observe(v, a) for v, a in totals[current[0]]]
        )
        try:
            for current[0] in range(len(totals)):
                got = without_times(ours(provider.collect()))
                expected = without_times(sdk(reader))
                assert got == expected, (current[0], got, expected)
        finally:
            provider.close()
            sdk_provider.shutdown()
