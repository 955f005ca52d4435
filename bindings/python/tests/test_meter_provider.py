"""The meter provider through both fronts: every kind and number type, bad inputs,
export to the in-process receiver and to the real Collector."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import ResourceMetrics

from conftest import REPO
from otlp_receiver import Receiver


@pytest.fixture
def provider(front: Any) -> Iterator[Any]:
    """A provider with no export thread and nowhere reachable to export to."""
    p = front.MeterProvider(endpoint="http://127.0.0.1:9/v1/metrics", retry=False, timeout_ms=1000, export_interval_ms=0)
    try:
        yield p
    finally:
        p.close()


def metrics(data: bytes) -> Dict[str, Any]:
    rm = ResourceMetrics.FromString(data)
    return {m.name: m for sm in rm.scope_metrics for m in sm.metrics}


def attrs(point: Any) -> Dict[str, Any]:
    out = {}
    for kv in point.attributes:
        out[kv.key] = getattr(kv.value, kv.value.WhichOneof("value"))
    return out


@pytest.mark.parametrize("number", [int, float])
def test_every_kind(provider: Any, number: Any) -> None:
    meter = provider.meter("test.scope", "1.2")
    one = number(1)
    meter.counter("c", unit="1", description="a counter", number=number).add(one * 3, {"k": "v"})
    meter.up_down_counter("u", number=number).add(-one * 2)
    h = meter.histogram("h", unit="ms", number=number)
    h.record(one * 5)
    h.record(one * 7)
    meter.gauge("g", number=number).record(one * 9, {"b": True, "i": 4, "f": 0.5})
    meter.observable_counter("oc", lambda o: o.observe(one * 11, {"x": 1}), number=number)
    meter.observable_up_down_counter("ou", lambda o: o.observe(-one * 12), number=number)
    meter.observable_gauge("og", lambda o: o.observe(one * 13), number=number)

    field = "as_int" if number is int else "as_double"
    got = metrics(provider.collect())
    assert set(got) == {"c", "u", "h", "g", "oc", "ou", "og"}
    assert got["c"].unit == "1" and got["c"].description == "a counter"
    assert getattr(got["c"].sum.data_points[0], field) == 3
    assert attrs(got["c"].sum.data_points[0]) == {"k": "v"}
    assert got["c"].sum.is_monotonic and not got["u"].sum.is_monotonic
    assert getattr(got["u"].sum.data_points[0], field) == -2
    hp = got["h"].histogram.data_points[0]
    assert (hp.count, hp.sum, hp.min, hp.max) == (2, 12, 5, 7)
    gp = got["g"].gauge.data_points[0]
    assert getattr(gp, field) == 9 and attrs(gp) == {"b": True, "i": 4, "f": 0.5}
    assert getattr(got["oc"].sum.data_points[0], field) == 11
    assert getattr(got["ou"].sum.data_points[0], field) == -12
    assert getattr(got["og"].gauge.data_points[0], field) == 13


def test_resource_and_scope(front: Any) -> None:
    with front.MeterProvider(
        endpoint="http://127.0.0.1:9/v1/metrics",
        retry=False,
        timeout_ms=1000,
        export_interval_ms=0,
        resource={"service.name": "svc", "n": 2},
    ) as p:
        p.meter("scope.name", "3.1").counter("c").add(1)
        rm = ResourceMetrics.FromString(p.collect())
        res = {kv.key: kv.value for kv in rm.resource.attributes}
        assert res["service.name"].string_value == "svc" and res["n"].int_value == 2
        assert (rm.scope_metrics[0].scope.name, rm.scope_metrics[0].scope.version) == ("scope.name", "3.1")
        p.close()  # its shutdown could only fail to export: the with block has nothing left to do


@pytest.mark.parametrize("number", [int, float])
def test_bound(front: Any, provider: Any, number: Any) -> None:
    meter = provider.meter("m")
    c = meter.counter("c", number=number)
    with c.bind({"route": "/a"}) as bound:
        bound.add(number(2))
        bound.add(number(3))
    with pytest.raises(front.InvalidArgumentError):
        bound.add(number(1))  # closed
    h = meter.histogram("h", number=number)
    bh = h.bind({"route": "/b"})
    bh.record(number(4))
    got = metrics(provider.collect())
    point = got["c"].sum.data_points[0]
    assert attrs(point) == {"route": "/a"}
    assert (point.as_int if number is int else point.as_double) == 5
    assert got["h"].histogram.data_points[0].count == 1
    # left open: freed with the provider
    provider.close()
    bh.close()



def test_bad_inputs(front: Any, provider: Any) -> None:
    meter = provider.meter("m")
    c = meter.counter("c")
    h = meter.histogram("h", number=float)
    with pytest.raises(front.InvalidArgumentError):
        h.add(1.0)  # add does not apply to a histogram
    with pytest.raises(front.InvalidArgumentError):
        c.record(1)
    c.add(-1)  # a counter is monotonic: not recorded, a warning (checked below: no point)
    with pytest.raises(TypeError):
        c.add(1.5)  # an int instrument
    with pytest.raises(TypeError):
        c.add(True)
    with pytest.raises(front.InvalidArgumentError):
        c.add(2**63)
    with pytest.raises(TypeError):
        c.add(1, {"k": [1, 2]})
    with pytest.raises(TypeError):
        c.add(1, {1: "v"})
    with pytest.raises(TypeError):
        c.add(1, [("k", "v")])
    with pytest.raises(front.InvalidArgumentError):
        c.add(1, {"": "v"})
    with pytest.raises(front.InvalidArgumentError):
        c.add(1, {"k": "a\0b"})
    with pytest.raises(front.InvalidArgumentError):
        meter.counter("")
    with pytest.raises(front.InvalidArgumentError):
        meter.counter("9starts-with-a-digit")
    with pytest.raises(TypeError):
        meter.counter("ok", number=complex)
    with pytest.raises(TypeError):
        meter.observable_gauge("og", callback=42)
    observable = meter.observable_counter("oc", lambda observer: None)
    with pytest.raises(front.InvalidArgumentError):
        observable.add(1)  # observed by its callback only
    with pytest.raises(front.InvalidArgumentError):
        observable.bind({"k": "v"})
    with pytest.raises(front.InvalidArgumentError):
        h.bind({"": 1})
    assert metrics(provider.collect()) == {}


def test_after_shutdown_and_close(front: Any) -> None:
    receiver = Receiver()
    try:
        p = front.MeterProvider(endpoint=receiver.url, retry=False, timeout_ms=5000, export_interval_ms=0)
        meter = p.meter("m")
        c = meter.counter("c")
        bound = c.bind({"a": 1})
        c.add(1)
        p.shutdown()
        assert [m.name for m in receiver.wait_for(1)[0].request().resource_metrics[0].scope_metrics[0].metrics] == ["c"]
        for call in (lambda: c.add(1), lambda: bound.add(1), p.collect, lambda: p.meter("n"), p.shutdown, p.force_flush):
            with pytest.raises(front.ShutdownError):
                call()
        assert p.stats().requests_sent == 1
        p.close()
        for call in (lambda: c.add(1), p.collect, p.stats):
            with pytest.raises(front.ShutdownError):
                call()
        bound.close()  # after the provider: nothing left to free
    finally:
        receiver.stop()


def test_callback_exception_is_logged(front: Any, provider: Any, caplog: pytest.LogCaptureFixture) -> None:
    kept: List[Any] = []

    def bad(observer: Any) -> None:
        kept.append(observer)
        observer.observe(1)
        raise RuntimeError("callback failed")

    def wrong_type(observer: Any) -> None:
        observer.observe("x")

    meter = provider.meter("m")
    meter.observable_gauge("og", bad)
    meter.observable_gauge("og2", wrong_type)
    with caplog.at_level(logging.ERROR, logger="otlpmetric"):
        got = metrics(provider.collect())
    assert "observable callback" in caplog.text and "callback failed" in caplog.text
    assert "TypeError" in caplog.text
    assert got["og"].gauge.data_points[0].as_int == 1  # observed before the raise
    with pytest.raises(front.InvalidArgumentError):
        kept[0].observe(2)  # outside its callback


def test_delta_collections(front: Any) -> None:
    with front.MeterProvider(
        endpoint="http://127.0.0.1:9/v1/metrics",
        retry=False,
        timeout_ms=1000,
        export_interval_ms=0,
        temporality=front.Temporality.DELTA,
    ) as p:
        c = p.meter("m").counter("c")
        c.add(2)
        assert metrics(p.collect())["c"].sum.data_points[0].as_int == 2
        c.add(5)
        assert metrics(p.collect())["c"].sum.data_points[0].as_int == 5
        assert metrics(p.collect()) == {}
        p.close()


def test_force_flush_exports_to_receiver(front: Any, receiver: Receiver) -> None:
    with front.MeterProvider(endpoint=receiver.url, retry=False, timeout_ms=5000, export_interval_ms=0) as p:
        p.meter("m").up_down_counter("u", number=float).add(-1.5, {"k": "v"})
        p.force_flush(5000)
        assert p.stats().requests_sent == 1
    request = receiver.wait_for(1)[0].request()
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0]
    assert point.as_double == -1.5


def test_exporter_metrics(front: Any, receiver: Receiver) -> None:
    with front.MeterProvider(endpoint=receiver.url, retry=False, timeout_ms=5000, export_interval_ms=0,
                             exporter_metrics=True) as p:
        p.meter("m").counter("c").add(1)
        p.force_flush(5000)
        got = metrics(p.collect())
    exported = got["otel.sdk.exporter.metric_data_point.exported"].sum.data_points
    assert [pt.as_int for pt in exported] == [1]
    point_attrs = attrs(exported[0])
    assert point_attrs["otel.component.type"] == "otlp_http_metric_exporter"
    assert point_attrs["server.address"] == "127.0.0.1"
    assert "error.type" not in point_attrs
    duration = got["otel.sdk.exporter.operation.duration"].histogram.data_points[0]
    assert duration.count == 1 and attrs(duration)["http.response.status_code"] == 200
    # Off by default.
    with front.MeterProvider(endpoint=receiver.url, retry=False, timeout_ms=5000, export_interval_ms=0) as p:
        p.meter("m").counter("c").add(1)
        p.force_flush(5000)
        assert "otel.sdk.exporter.metric_data_point.exported" not in metrics(p.collect())


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Dict[str, str]]:
    binary = os.environ.get("OTELCOL_BIN")
    if not binary:
        pytest.skip("OTELCOL_BIN is not set (scripts/otelcol.sh path builds the Collector)")
    env = dict(os.environ, OTELCOL_BIN=binary, OTELCOL_GRPC_PORT="auto", OTELCOL_HTTP_PORT="auto",
               OTELCOL_RUN_DIR=str(tmp_path / "collector"))
    out = subprocess.run([str(REPO / "tools/otelcol/run.sh")], env=env, check=True, capture_output=True, text=True)
    values = dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)
    values = {k: v.strip("'\"") for k, v in values.items()}
    try:
        yield values
    finally:
        subprocess.run([str(REPO / "tools/otelcol/run.sh"), "stop", values["OTELCOL_PIDFILE"]], check=False)


def test_export_to_the_collector(front: Any, collector: Dict[str, str]) -> None:
    with front.MeterProvider(
        endpoint=collector["OTELCOL_HTTP_ENDPOINT"] + "/v1/metrics",
        protocol="http/protobuf",
        export_interval_ms=0,
        resource={"service.name": "py-" + front.__name__},
    ) as p:
        meter = p.meter("collector.test")
        meter.counter("requests").add(3, {"route": "/a"})
        meter.histogram("latency", unit="ms", number=float).record(12.5)
        meter.observable_gauge("memory", lambda o: o.observe(42))
        p.force_flush(10000)
    out = Path(collector["OTELCOL_OUT"])
    deadline = time.monotonic() + 10
    found: Dict[str, Any] = {}
    while time.monotonic() < deadline and len(found) < 3:
        for line in out.read_text().splitlines() if out.exists() else []:
            for rm in json.loads(line).get("resourceMetrics", []):
                for sm in rm.get("scopeMetrics", []):
                    for m in sm.get("metrics", []):
                        found[m["name"]] = m
        time.sleep(0.1)
    assert set(found) == {"requests", "latency", "memory"}
    assert found["requests"]["sum"]["dataPoints"][0]["asInt"] in ("3", 3)
    assert found["latency"]["histogram"]["dataPoints"][0]["count"] in ("1", 1)
    assert found["memory"]["gauge"]["dataPoints"][0]["asInt"] in ("42", 42)
