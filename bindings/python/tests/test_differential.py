"""The differential test: seeded random measurements go through our provider's
``collect()`` and through the OpenTelemetry Python SDK (``InMemoryMetricReader`` with the
same temporality and aggregation); the data points must be equal.

The known, intended differences are normalised explicitly in ``ours()`` / ``sdk()``
(each with its reason); nothing else is skipped.
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
    # The SDK pads its bucket arrays with zeros: trailing ones, and leading ones after it
    # merged a delta into a cumulative point (its offset stays the lowest it ever was).
    # Empty buckets at either end say nothing; an empty array's offset means nothing.
    counts = strip_trailing_zeros(counts)
    while counts and counts[0] == 0:
        counts.pop(0)
        offset += 1
    return (offset if counts else None), counts


# -- our side ------------------------------------------------------------------------------


def proto_value(point: Any) -> Any:
    return getattr(point, point.WhichOneof("value"))


def proto_attributes(point: Any) -> Dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in point.attributes}


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
                    d.update(count=p.count, sum=p.sum, bounds=list(p.explicit_bounds),
                             buckets=list(p.bucket_counts), min=p.min, max=p.max)
                else:
                    d.update(count=p.count, sum=p.sum, scale=p.scale, zero_count=p.zero_count,
                             positive=exponential_buckets(p.positive.offset, p.positive.bucket_counts),
                             negative=exponential_buckets(p.negative.offset, p.negative.bucket_counts),
                             min=p.min, max=p.max)
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
                    out[(metric.name, attributes_key(dict(p.attributes or {})))] = d
    return out


# -- the comparison ------------------------------------------------------------------------


def downscale(buckets: Tuple[Optional[int], List[int]], by: int) -> Tuple[Optional[int], List[int]]:
    """Exponential buckets at a scale ``by`` lower (each bucket index shifted right)."""
    offset, counts = buckets
    if offset is None:
        return buckets
    merged: Dict[int, int] = {}
    for i, count in enumerate(counts):
        index = (offset + i) >> by
        merged[index] = merged.get(index, 0) + count
    low, high = min(merged), max(merged)
    return exponential_buckets(low, [merged.get(i, 0) for i in range(low, high + 1)])


def to_sdk_scale(point: Dict[str, Any], sdk_point: Dict[str, Any], max_size: int) -> Dict[str, Any]:
    """Ours at the SDK's scale when the SDK's is lower. The SDK gives a histogram of only
    zeros scale 0 (it has no buckets, so any scale is right), and merging such a delta into
    a cumulative point downscales the cumulative buckets to scale 0; we keep the scale the
    non-zero values need. Our point must still respect max_size at its own scale."""
    if point.get("type") != "exponential_histogram" or sdk_point.get("type") != "exponential_histogram":
        return point
    by = point["scale"] - sdk_point["scale"]
    if by <= 0:
        return point
    for sign in ("positive", "negative"):
        assert len(point[sign][1]) <= max_size, point
    return dict(
        point,
        scale=sdk_point["scale"],
        positive=downscale(point["positive"], by),
        negative=downscale(point["negative"], by),
    )


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
    """Equal, but float sums within rounding: both add in the same order, yet one side
    may keep an integer-valued sum exactly where the other rounds."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close_floats(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(close_floats(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("temporality", ["delta", "cumulative"])
@pytest.mark.parametrize("histogram", HISTOGRAMS, ids=lambda h: h.name)
def test_same_points_as_the_sdk(seed: int, temporality: str, histogram: HistogramConfig) -> None:
    seq = generate(seed * 1000 + HISTOGRAMS.index(histogram))
    current_round = [0]

    our_temporality = otlpmetric.Temporality.DELTA if temporality == "delta" else otlpmetric.Temporality.CUMULATIVE
    sdk_temporality = AggregationTemporality.DELTA if temporality == "delta" else AggregationTemporality.CUMULATIVE
    reader = InMemoryMetricReader(
        preferred_temporality={
            cls: sdk_temporality
            for cls in (Counter, UpDownCounter, Histogram, _Gauge, ObservableCounter, ObservableUpDownCounter, ObservableGauge)
        },
        preferred_aggregation={Histogram: histogram.sdk},
    )
    sdk_provider = SdkMeterProvider(metric_readers=[reader])
    provider = otlpmetric.MeterProvider(
        endpoint="http://127.0.0.1:9/v1/metrics",
        retry=False,
        timeout_ms=1000,
        export_interval_ms=0,
        temporality=our_temporality,
        aggregation={otlpmetric.InstrumentKind.HISTOGRAM: histogram.ours},
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
            try:
                expected = sdk(reader)
            except Exception as e:
                if "Incorrect merge scale" not in str(e):
                    raise
                # The oracle fails, not us: the SDK cannot merge a delta exponential
                # histogram into its cumulative point at a different scale (small max_size).
                pytest.xfail(f"round {round_index}: the SDK raised {e!r} merging cumulative exponential buckets")
            check_times(got, our_times)
            check_times(expected, sdk_times)
            got, expected = without_times(got), without_times(expected)
            assert got.keys() == expected.keys(), f"round {round_index}"
            for key in got:
                got[key] = to_sdk_scale(got[key], expected[key], histogram.ours.max_size)
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


@pytest.mark.xfail(
    strict=True,
    reason="a delta observable sum whose series skips a collection: the SDK reports the change "
    "since the last total observed (T2 - T0); we forget the series' total when it is not "
    "observed and report T2 as if it were new. The coordinator decides which is right.",
)
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
