"""The Exporter API of both fronts (ctypes and cffi) against a real OTLP/HTTP receiver."""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import re
import threading
import time
import warnings
from typing import Any, List, Tuple

import pytest
from google.protobuf import json_format

import samples



# -- basics ----------------------------------------------------------------------------------


def test_version_and_library(front: Any) -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", front.version())
    assert front.library_path()
    assert front.status_str(front.Status.ERR_TIMEOUT) == "OTLPMETRIC_ERR_TIMEOUT"
    assert front.status_str(99) == "OTLPMETRIC_UNKNOWN_STATUS"


def test_both_fronts_share_types() -> None:
    import otlpmetric
    import otlpmetric.cffi

    for name in ("Error", "ExportError", "Status", "Aggregation", "Retry", "Stats", "InstrumentKind"):
        assert getattr(otlpmetric, name) is getattr(otlpmetric.cffi, name)
    assert otlpmetric.Exporter is not otlpmetric.cffi.Exporter


def test_enum_numbers(front: Any) -> None:
    assert front.Status.ERR_QUEUE_FULL == 6
    assert front.Protocol.HTTP_JSON == 3
    assert front.Compression.GZIP == 1
    assert front.Compression.ZSTD == 2
    assert front.InstrumentKind.OBSERVABLE_GAUGE == 7
    assert front.Temporality.DELTA == 1
    assert front.AggregationKind.BASE2_EXPONENTIAL_HISTOGRAM == 5
    assert front.LogLevel.DEBUG == 4


# -- round trips -----------------------------------------------------------------------------


def test_upload_round_trip_bytes(front: Any, receiver: Any, make_exporter: Any) -> None:
    exporter = make_exporter()
    rm = samples.resource_metrics().SerializeToString()
    exporter.upload(rm)
    (got,) = receiver.wait_for(1)
    assert got.path == "/v1/metrics"
    assert got.headers["content-type"] == "application/x-protobuf"
    assert got.body == samples.wrap_as_request(rm)
    stats = exporter.stats()
    assert stats.requests_sent == 1
    assert stats.bytes_sent == len(got.body)
    assert stats.requests_failed == 0


def test_upload_accepts_bytearray_and_memoryview(front: Any, receiver: Any, make_exporter: Any) -> None:
    exporter = make_exporter()
    rm = samples.resource_metrics().SerializeToString()
    exporter.upload(bytearray(rm))
    exporter.upload(memoryview(rm))
    got = receiver.wait_for(2)
    assert [g.body for g in got] == [samples.wrap_as_request(rm)] * 2


def test_upload_empty_resource_metrics(front: Any, receiver: Any, make_exporter: Any) -> None:
    # An empty ResourceMetrics is valid; the library refuses a NULL buffer, so an empty
    # one must reach it as a non-NULL pointer with length 0.
    exporter = make_exporter()
    exporter.upload(b"")
    exporter.enqueue(bytearray())
    exporter.force_flush()
    got = receiver.wait_for(2)
    assert [g.body for g in got] == [samples.wrap_as_request(b"")] * 2


def test_upload_request_round_trip(front: Any, receiver: Any, make_exporter: Any) -> None:
    exporter = make_exporter()
    body = samples.request(samples.resource_metrics("a", 1), samples.resource_metrics("b", 2)).SerializeToString()
    exporter.upload_request(body, timeout_ms=3000)
    (got,) = receiver.wait_for(1)
    assert got.body == body


def test_upload_json(front: Any, receiver: Any, make_exporter: Any) -> None:
    exporter = make_exporter()
    req = samples.request(samples.resource_metrics("json.metric", 7, points=2))
    # OTLP/JSON: lowerCamelCase keys, 64-bit integers as strings, enums as integers.
    text = json_format.MessageToJson(req, use_integers_for_enums=True)
    exporter.upload_json(text)
    exporter.upload_json(text.encode("utf-8"))
    got = receiver.wait_for(2)
    for g in got:
        assert g.request() == req


def test_upload_json_never_drops_data_silently(front: Any, receiver: Any, make_exporter: Any) -> None:
    exporter = make_exporter()
    req = samples.request(samples.resource_metrics("json.metric", 7))
    by_name = json_format.MessageToJson(req)  # "aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE"
    bad_int = '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"c","sum":{"dataPoints":[{"asInt":"abc"}]}}]}]}]}'
    for text, expected in ((by_name, req), (bad_int, None)):
        try:
            exporter.upload_json(text)
        except front.DecodeError:
            continue
        got = receiver.wait_for(1)[-1].request()
        receiver.requests.clear()
        assert got == expected, f"sent OK, but the receiver got {got}"


def test_upload_json_over_http_json(front: Any, receiver: Any, make_exporter: Any) -> None:
    exporter = make_exporter(protocol="http/json")
    rm = samples.resource_metrics("j", 3)
    exporter.upload(rm.SerializeToString())
    (got,) = receiver.wait_for(1)
    assert got.headers["content-type"] == "application/json"
    # OTLP/JSON receivers must ignore unknown fields (the library writes newer fields
    # such as Resource.entityRefs, which an older opentelemetry-proto does not know).
    decoded = json_format.Parse(got.body, samples.request(rm).__class__(), ignore_unknown_fields=True)
    assert decoded == samples.request(rm)


def test_headers_and_gzip(front: Any, receiver: Any, make_exporter: Any) -> None:
    exporter = make_exporter(headers={"x-api-key": "sekrit", "x-tenant": "t1"}, compression=front.Compression.GZIP)
    rm = samples.resource_metrics().SerializeToString()
    exporter.upload(rm)
    (got,) = receiver.wait_for(1)
    assert got.headers["x-api-key"] == "sekrit"
    assert got.headers["x-tenant"] == "t1"
    assert got.headers["content-encoding"] == "gzip"
    assert got.raw_body != got.body
    assert got.body == samples.wrap_as_request(rm)


def test_concurrent_uploads(front: Any, receiver: Any, make_exporter: Any) -> None:
    exporter = make_exporter()
    errors: List[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(5):
                exporter.upload(samples.resource_metrics(f"t{i}", j).SerializeToString())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(receiver.wait_for(20)) == 20
    assert exporter.stats().requests_sent == 20


# -- errors ----------------------------------------------------------------------------------


def test_receiver_refusal_is_export_error(front: Any, receiver: Any, make_exporter: Any) -> None:
    from otlp_receiver import Reply

    receiver.default = Reply(status=400, body=b"bad request: no good")
    exporter = make_exporter()
    with pytest.raises(front.ExportError) as info:
        exporter.upload(samples.resource_metrics().SerializeToString())
    e = info.value
    assert e.status == front.Status.ERR_EXPORT
    assert isinstance(e, front.Error)
    assert "400" in e.message
    assert str(e) == e.message
    assert exporter.stats().requests_failed == 1


def test_garbage_is_decode_error_and_nothing_sent(front: Any, receiver: Any, make_exporter: Any) -> None:
    exporter = make_exporter()
    for call in (exporter.upload, exporter.upload_request):
        with pytest.raises(front.DecodeError) as info:
            call(b"\xff\xff\xff\xff garbage")
        assert info.value.status == front.Status.ERR_DECODE
        assert info.value.message
        assert isinstance(info.value, ValueError)
    with pytest.raises(front.DecodeError) as info:
        exporter.upload_json('{"resourceMetrics": [')
    assert re.search(r"line|column", info.value.message)
    time.sleep(0.2)
    assert receiver.requests == []


def test_timeout(front: Any, receiver: Any, make_exporter: Any) -> None:
    from otlp_receiver import Reply

    receiver.default = Reply(hang=True)
    exporter = make_exporter()
    started = time.monotonic()
    with pytest.raises(front.ExportTimeoutError) as info:
        exporter.upload(samples.resource_metrics().SerializeToString(), timeout_ms=300)
    assert time.monotonic() - started < 5
    assert isinstance(info.value, TimeoutError)  # the builtin too
    assert info.value.status == front.Status.ERR_TIMEOUT
    assert info.value.errno is None


def test_shutdown_twice(front: Any, receiver: Any, make_exporter: Any) -> None:
    exporter = make_exporter()
    exporter.shutdown()
    with pytest.raises(front.ShutdownError) as info:
        exporter.shutdown()
    assert "shut down" in info.value.message
    with pytest.raises(front.ShutdownError):
        exporter.upload(b"")
    with pytest.raises(front.ShutdownError):
        exporter.force_flush()
    # Selections and stats keep answering after shutdown.
    assert exporter.temporality(front.InstrumentKind.COUNTER) == front.Temporality.CUMULATIVE
    assert exporter.stats().requests_sent == 0


def test_closed_exporter(front: Any, make_exporter: Any) -> None:
    exporter = make_exporter()
    exporter.close()
    exporter.close()  # idempotent
    assert exporter.closed
    with pytest.raises(front.ShutdownError, match="closed"):
        exporter.upload(b"")
    with pytest.raises(front.ShutdownError):
        exporter.stats()
    assert exporter.aggregation(front.InstrumentKind.GAUGE).kind == front.AggregationKind.LAST_VALUE


def test_context_manager(front: Any, receiver: Any) -> None:
    with front.Exporter(endpoint=receiver.url, retry=False) as exporter:
        exporter.upload(samples.resource_metrics().SerializeToString())
    assert exporter.closed
    assert len(receiver.requests) == 1
    # Shut down inside the block: leaving it is still fine.
    with front.Exporter(endpoint=receiver.url, retry=False) as exporter:
        exporter.shutdown()
    assert exporter.closed


def test_context_manager_keeps_the_block_exception(front: Any, receiver: Any) -> None:
    with pytest.raises(KeyError):
        with front.Exporter(endpoint=receiver.url, retry=False) as exporter:
            raise KeyError("inside")
    assert exporter.closed


def test_invalid_config_values(front: Any, receiver: Any) -> None:
    cases: List[Tuple[dict, str]] = [
        (dict(protocol=99), "protocol"),
        (dict(compression=7), "compression"),
        (dict(endpoint="not a url"), "endpoint"),
        (dict(retry=front.Retry(enabled=True, initial_ms=0)), "retry"),
        (dict(tls_ca_file="/nonexistent/ca.pem"), "ca.pem"),
        (dict(max_request_bytes=1), ""),
        (dict(queue_bytes=0), ""),
    ]
    for kwargs, word in cases:
        with pytest.raises(front.InvalidArgumentError) as info:
            front.Exporter(**kwargs)
        assert info.value.status == front.Status.ERR_INVALID_ARGUMENT
        assert info.value.message, kwargs
        assert word.lower() in info.value.message.lower(), (kwargs, info.value.message)


def test_python_side_argument_checks(front: Any, make_exporter: Any) -> None:
    with pytest.raises(front.InvalidArgumentError):
        front.Exporter(timeout_ms=-1)
    with pytest.raises(front.InvalidArgumentError):
        front.Exporter(timeout_ms=2**32)
    with pytest.raises(front.InvalidArgumentError):
        front.Exporter(endpoint="http://a\0b")
    with pytest.raises(front.InvalidArgumentError):
        front.Exporter(protocol="carrier-pigeon")
    with pytest.raises(TypeError):
        front.Exporter(endpoint=42)
    with pytest.raises(TypeError):
        front.Exporter(temporality="delta")
    with pytest.raises(TypeError):
        front.Exporter(log="stderr")
    exporter = make_exporter()
    with pytest.raises(TypeError):
        exporter.upload("not bytes")
    with pytest.raises(front.InvalidArgumentError):
        exporter.upload(b"", timeout_ms=-5)
    with pytest.raises(front.InvalidArgumentError):
        exporter.temporality(99)
    with pytest.raises(front.InvalidArgumentError):
        exporter.aggregation(0)


def test_protocol_names(front: Any) -> None:
    for name in ("grpc", "http/protobuf", "http/json", front.Protocol.GRPC, 2):
        front.Exporter(protocol=name).close()


def test_error_classes(front: Any) -> None:
    pairs = {
        1: front.InvalidArgumentError,
        2: front.DecodeError,
        3: front.ShutdownError,
        4: front.ExportTimeoutError,
        5: front.ExportError,
        6: front.QueueFullError,
        7: front.InternalError,
    }
    for status, cls in pairs.items():
        e = front.Error.from_status(status, "m")
        assert type(e) is cls and e.status == status and e.message == "m"
    assert type(front.Error.from_status(42, "x")) is front.Error
    import pickle

    e = pickle.loads(pickle.dumps(front.ExportTimeoutError(4, "slow")))
    assert (type(e), e.status, e.message) == (front.ExportTimeoutError, 4, "slow")


# -- selectors --------------------------------------------------------------------------------


def test_default_selections(front: Any, make_exporter: Any) -> None:
    exporter = make_exporter()
    K, A = front.InstrumentKind, front.AggregationKind
    for kind in K:
        assert exporter.temporality(kind) == front.Temporality.CUMULATIVE
    assert exporter.aggregation(K.COUNTER) == front.Aggregation(A.SUM)
    assert exporter.aggregation(K.OBSERVABLE_GAUGE) == front.Aggregation(A.LAST_VALUE)
    assert exporter.aggregation(K.HISTOGRAM) == front.Aggregation(
        A.EXPLICIT_BUCKET_HISTOGRAM, front.DEFAULT_BOUNDARIES
    )


def test_temporality_selector_callable(front: Any, make_exporter: Any) -> None:
    K, T = front.InstrumentKind, front.Temporality
    asked: List[Any] = []

    def select(kind: Any) -> Any:
        asked.append(kind)
        return T.DELTA if kind in (K.COUNTER, K.HISTOGRAM) else T.CUMULATIVE

    exporter = make_exporter(temporality=select)
    assert sorted(asked) == list(K)
    assert all(isinstance(k, K) for k in asked)
    assert exporter.temporality(K.COUNTER) == T.DELTA
    assert exporter.temporality(K.HISTOGRAM) == T.DELTA
    assert exporter.temporality(K.GAUGE) == T.CUMULATIVE


def test_temporality_single_value_and_dict(front: Any, make_exporter: Any) -> None:
    K, T = front.InstrumentKind, front.Temporality
    exporter = make_exporter(temporality=T.DELTA)
    assert {exporter.temporality(k) for k in K} == {T.DELTA}
    exporter = make_exporter(temporality={K.UP_DOWN_COUNTER: T.DELTA})
    assert exporter.temporality(K.UP_DOWN_COUNTER) == T.DELTA
    assert exporter.temporality(K.COUNTER) == T.CUMULATIVE  # left out: the library default


def test_temporality_dict_default_follows_environment(front: Any, make_exporter: Any, monkeypatch: Any) -> None:
    K, T = front.InstrumentKind, front.Temporality
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    exporter = make_exporter(temporality={K.OBSERVABLE_GAUGE: T.DELTA})
    assert exporter.temporality(K.COUNTER) == T.DELTA  # the preference's answer
    assert exporter.temporality(K.UP_DOWN_COUNTER) == T.CUMULATIVE
    assert exporter.temporality(K.OBSERVABLE_GAUGE) == T.DELTA


def test_temporality_dict_defaults_come_from_the_config(front: Any, make_exporter: Any, monkeypatch: Any) -> None:
    # The kinds a dict leaves out get the default of the config being built
    # (otlpmetric_config_default_temporality); no other exporter is created to learn it.
    K, T = front.InstrumentKind, front.Temporality
    backend = front.Exporter._load_backend()
    created: List[Any] = []
    asked: List[int] = []
    real_new, real_call = type(backend).exporter_new, type(backend).call

    def counting_new(self: Any, config: Any) -> Any:
        created.append(config)
        return real_new(self, config)

    def counting_call(self: Any, function: str, *args: Any) -> int:
        if function == "otlpmetric_config_default_temporality":
            asked.append(args[1])
        return real_call(self, function, *args)

    monkeypatch.setattr(type(backend), "exporter_new", counting_new)
    monkeypatch.setattr(type(backend), "call", counting_call)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "lowmemory")
    exporter = make_exporter(temporality={K.UP_DOWN_COUNTER: T.DELTA})
    assert len(created) == 1
    assert sorted(asked) == sorted(int(k) for k in K if k != K.UP_DOWN_COUNTER)
    assert exporter.temporality(K.COUNTER) == T.DELTA
    assert exporter.temporality(K.UP_DOWN_COUNTER) == T.DELTA
    assert exporter.temporality(K.OBSERVABLE_COUNTER) == T.CUMULATIVE
    assert exporter.temporality(K.HISTOGRAM) == T.DELTA


def test_aggregation_selector_callable(front: Any, make_exporter: Any) -> None:
    K, A = front.InstrumentKind, front.AggregationKind
    defaults = {}

    def select(kind: Any, default: Any) -> Any:
        defaults[kind] = default
        if kind == K.HISTOGRAM:
            return front.Aggregation(A.EXPLICIT_BUCKET_HISTOGRAM, [1, 10, 100], record_min_max=False)
        if kind == K.COUNTER:
            return dataclasses.replace(default, kind=A.BASE2_EXPONENTIAL_HISTOGRAM, max_size=40, max_scale=5)
        if kind == K.GAUGE:
            return front.Aggregation(A.DROP)
        if kind == K.UP_DOWN_COUNTER:
            return A.EXPLICIT_BUCKET_HISTOGRAM  # a bare kind: default parameters
        return None  # keep the default

    exporter = make_exporter(aggregation=select)
    assert sorted(defaults) == list(K)
    # The default arrives with every field holding the SDK default.
    assert defaults[K.COUNTER] == front.Aggregation(A.SUM, front.DEFAULT_BOUNDARIES)
    assert exporter.aggregation(K.HISTOGRAM) == front.Aggregation(
        A.EXPLICIT_BUCKET_HISTOGRAM, (1.0, 10.0, 100.0), record_min_max=False
    )
    assert exporter.aggregation(K.COUNTER) == front.Aggregation(A.BASE2_EXPONENTIAL_HISTOGRAM, max_size=40, max_scale=5)
    assert exporter.aggregation(K.GAUGE) == front.Aggregation(A.DROP)
    assert exporter.aggregation(K.OBSERVABLE_UP_DOWN_COUNTER) == front.Aggregation(A.SUM)
    assert exporter.aggregation(K.UP_DOWN_COUNTER) == front.Aggregation(
        A.EXPLICIT_BUCKET_HISTOGRAM, front.DEFAULT_BOUNDARIES
    )


def test_aggregation_empty_boundaries_and_dict(front: Any, make_exporter: Any) -> None:
    K, A = front.InstrumentKind, front.AggregationKind
    exporter = make_exporter(aggregation={K.HISTOGRAM: front.Aggregation(A.EXPLICIT_BUCKET_HISTOGRAM, ())})
    assert exporter.aggregation(K.HISTOGRAM).boundaries == ()
    assert exporter.aggregation(K.COUNTER) == front.Aggregation(A.SUM)
    exporter = make_exporter(aggregation=front.Aggregation(A.DROP))
    assert {exporter.aggregation(k).kind for k in K} == {A.DROP}


def test_invalid_selector_answers(front: Any) -> None:
    K, A = front.InstrumentKind, front.AggregationKind
    with pytest.raises(front.InvalidArgumentError) as info:
        front.Exporter(temporality=lambda kind: 7)
    assert "COUNTER" in info.value.message
    with pytest.raises(front.InvalidArgumentError):
        front.Exporter(temporality={K.COUNTER: 0})
    with pytest.raises(front.InvalidArgumentError) as info:
        front.Exporter(aggregation={K.GAUGE: front.Aggregation(A.SUM)})  # SUM does not fit a gauge
    assert "GAUGE" in info.value.message
    with pytest.raises(front.InvalidArgumentError):
        front.Exporter(aggregation={K.HISTOGRAM: front.Aggregation(A.EXPLICIT_BUCKET_HISTOGRAM, (5, 1))})
    with pytest.raises(front.InvalidArgumentError):
        front.Exporter(aggregation={K.HISTOGRAM: front.Aggregation(A.EXPLICIT_BUCKET_HISTOGRAM, (1, float("nan")))})
    with pytest.raises(front.InvalidArgumentError):
        front.Exporter(aggregation={K.HISTOGRAM: front.Aggregation(99)})
    with pytest.raises(front.InvalidArgumentError):
        front.Exporter(aggregation={K.HISTOGRAM: front.Aggregation(A.BASE2_EXPONENTIAL_HISTOGRAM, max_size=1)})


class SelectorBoom(Exception):
    pass


def test_temporality_selector_raising(front: Any, caplog: Any) -> None:
    def select(kind: Any) -> Any:
        if kind == front.InstrumentKind.HISTOGRAM:
            raise SelectorBoom("no temporality for you")
        return front.Temporality.DELTA

    with caplog.at_level(logging.ERROR, logger="otlpmetric"):
        with pytest.raises(SelectorBoom, match="no temporality") as info:
            front.Exporter(temporality=select)
    cause = info.value.__cause__
    assert isinstance(cause, front.InvalidArgumentError)
    assert "HISTOGRAM" in cause.message
    assert any("temporality selector raised" in r.getMessage() for r in caplog.records)


def test_temporality_selector_wrong_type(front: Any) -> None:
    with pytest.raises(TypeError, match="Temporality"):
        front.Exporter(temporality=lambda kind: "delta")
    with pytest.raises(TypeError):
        front.Exporter(temporality=lambda kind: None)


def test_aggregation_selector_raising(front: Any) -> None:
    def select(kind: Any, default: Any) -> Any:
        if kind == front.InstrumentKind.COUNTER:
            raise SelectorBoom("bad aggregation")
        return None

    with pytest.raises(SelectorBoom, match="bad aggregation") as info:
        front.Exporter(aggregation=select)
    assert isinstance(info.value.__cause__, front.InvalidArgumentError)
    # A wrong answer type fails the same way.
    with pytest.raises(TypeError):
        front.Exporter(aggregation=lambda kind, default: "sum")
    with pytest.raises(TypeError):
        front.Exporter(aggregation=lambda kind, default: front.Aggregation(front.AggregationKind.SUM, ["x"]))


# -- log callback ------------------------------------------------------------------------------


def test_partial_success_warning(front: Any, receiver: Any, make_exporter: Any) -> None:
    receiver.default = receiver.partial_success(3, "some points were bad")
    logs: List[Tuple[Any, str]] = []
    exporter = make_exporter(log=lambda level, message: logs.append((level, message)))
    exporter.upload(samples.resource_metrics(points=3).SerializeToString())  # OK
    warnings = [(lvl, msg) for lvl, msg in logs if "rejected" in msg]
    assert len(warnings) == 1
    level, message = warnings[0]
    assert level == front.LogLevel.WARN and isinstance(level, front.LogLevel)
    assert "some points were bad (3 metric data points rejected)" in message
    assert exporter.stats().data_points_rejected == 3


def test_default_log_goes_to_logging(front: Any, receiver: Any, make_exporter: Any, caplog: Any) -> None:
    receiver.default = receiver.partial_success(3, "nope")
    exporter = make_exporter()
    with caplog.at_level(logging.DEBUG, logger="otlpmetric"):
        exporter.upload(samples.resource_metrics().SerializeToString())
    records = [r for r in caplog.records if r.name == "otlpmetric" and "rejected" in r.getMessage()]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert "(3 metric data points rejected)" in records[0].getMessage()


def test_environment_warning_through_log(front: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "carrier-pigeon")
    logs: List[Tuple[Any, str]] = []
    front.Exporter(log=lambda level, message: logs.append((level, message))).close()
    assert any("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL" in m and lvl == front.LogLevel.WARN for lvl, m in logs), logs


def test_log_callback_raising_does_not_crash(front: Any, receiver: Any, make_exporter: Any, caplog: Any) -> None:
    receiver.default = receiver.partial_success(3, "x")
    calls = []

    def log(level: Any, message: str) -> None:
        calls.append(message)
        raise RuntimeError("log callback exploded")

    exporter = make_exporter(log=log)
    with caplog.at_level(logging.ERROR, logger="otlpmetric"):
        exporter.upload(samples.resource_metrics().SerializeToString())
        exporter.upload(samples.resource_metrics().SerializeToString())
    assert len(calls) >= 2
    assert any("log callback raised" in r.getMessage() for r in caplog.records)
    assert exporter.stats().requests_sent == 2


def test_log_false_installs_nothing(front: Any, receiver: Any, make_exporter: Any, caplog: Any) -> None:
    receiver.default = receiver.partial_success(3, "quiet")
    exporter = make_exporter(log=False)
    with caplog.at_level(logging.DEBUG, logger="otlpmetric"):
        exporter.upload(samples.resource_metrics().SerializeToString())
    assert not [r for r in caplog.records if "rejected" in r.getMessage()]


def test_callbacks_kept_alive(front: Any, receiver: Any) -> None:
    received: List[str] = []

    def make() -> Any:
        # Every callable here is only referenced by the exporter.
        sink = received.append
        return front.Exporter(
            endpoint=receiver.url,
            retry=False,
            log=lambda level, message: sink(message),
            temporality=lambda kind: front.Temporality.DELTA,
            aggregation=lambda kind, default: None,
        )

    exporter = make()
    for _ in range(3):
        gc.collect()
    receiver.default = receiver.partial_success(3, "late")
    exporter.upload(samples.resource_metrics().SerializeToString())
    assert any("(3 metric data points rejected)" in m for m in received)
    exporter.close()
    gc.collect()


def test_exporter_garbage_collected_without_close(front: Any, receiver: Any) -> None:
    exporter = front.Exporter(endpoint=receiver.url, retry=False, log=lambda level, message: None)
    exporter.upload(b"")
    del exporter
    gc.collect()  # __del__ frees it; no crash


# -- enqueue ---------------------------------------------------------------------------------


def test_enqueue(front: Any, receiver: Any, make_exporter: Any) -> None:
    exporter = make_exporter()
    rm = samples.resource_metrics().SerializeToString()
    try:
        exporter.enqueue(rm)
    except NotImplementedError as e:
        assert "otlpmetric_exporter_enqueue" in str(e)
        pytest.skip("the library has no otlpmetric_exporter_enqueue yet")
    exporter.force_flush()
    (got,) = receiver.wait_for(1)
    assert got.body == samples.wrap_as_request(rm)
    with pytest.raises(front.DecodeError):
        exporter.enqueue(b"\xff\xff\xff")


def test_enqueue_missing_symbol_is_not_implemented(front: Any, make_exporter: Any, monkeypatch: Any) -> None:
    exporter = make_exporter()
    real_has = type(exporter._backend).has
    monkeypatch.setattr(
        type(exporter._backend), "has", lambda self, name: name != "otlpmetric_exporter_enqueue" and real_has(self, name)
    )
    with pytest.raises(NotImplementedError, match="otlpmetric_exporter_enqueue"):
        exporter.enqueue(b"")


def test_queue_full(front: Any, receiver: Any, make_exporter: Any) -> None:
    from otlp_receiver import Reply

    exporter = make_exporter(queue_bytes=1000, timeout_ms=500)
    if not exporter._backend.has("otlpmetric_exporter_enqueue"):
        pytest.skip("the library has no otlpmetric_exporter_enqueue yet")
    receiver.default = Reply(hang=True)
    rm = samples.resource_metrics(points=10).SerializeToString()
    assert 400 < len(rm) < 1000
    with pytest.raises(front.QueueFullError) as info:
        for _ in range(10):
            exporter.enqueue(rm)
    assert info.value.status == front.Status.ERR_QUEUE_FULL
    assert exporter.stats().queue_dropped >= 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork(front: Any, receiver: Any, make_exporter: Any) -> None:
    exporter = make_exporter()
    exporter.upload(samples.resource_metrics("parent").SerializeToString())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        pid = os.fork()
    if pid == 0:  # the child: use the inherited exporter and a new one, then leave at once
        code = 0
        try:
            exporter.upload(samples.resource_metrics("child").SerializeToString())
            with front.Exporter(endpoint=receiver.url, retry=False) as fresh:
                fresh.upload(samples.resource_metrics("child-new").SerializeToString())
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    exporter.upload(samples.resource_metrics("parent-after").SerializeToString())
    names = [g.request().resource_metrics[0].scope_metrics[0].metrics[0].name for g in receiver.wait_for(4)]
    assert names == ["parent", "child", "child-new", "parent-after"]


def test_close_from_a_library_thread(front: Any, receiver: Any, make_exporter: Any) -> None:
    """Closing (or collecting) an exporter on a thread Python did not start, such as a
    library thread running a callback of another exporter, hands the free to a thread
    of our own."""
    other = make_exporter()
    where: List[str] = []

    def log(level: Any, message: str) -> None:
        if "rejected" in message:
            where.append(threading.current_thread().__class__.__name__)
            other.close()

    exporter = make_exporter(log=log)
    if not exporter._backend.has("otlpmetric_exporter_enqueue"):
        pytest.skip("needs otlpmetric_exporter_enqueue (its uploads run on the library's threads)")
    receiver.default = receiver.partial_success(3, "close the other one")
    exporter.enqueue(samples.resource_metrics().SerializeToString())
    exporter.force_flush()
    deadline = time.monotonic() + 5
    while not where and time.monotonic() < deadline:
        time.sleep(0.01)
    assert where == ["_DummyThread"]  # a thread Python did not start
    assert other.closed
    for t in threading.enumerate():
        if t.name == "otlpmetric-free":
            t.join(10)
    assert not [t for t in threading.enumerate() if t.name == "otlpmetric-free"]


def test_exit_without_close(front: Any, receiver: Any) -> None:
    """Exporters left open (with callbacks) at interpreter exit are freed before it
    goes away: a clean exit, nothing on stderr."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        f"""
        import {front.__name__} as front
        logs = []
        exporters = [front.Exporter(endpoint={receiver.url!r}, retry=False,
                                    log=lambda level, message: logs.append(message),
                                    temporality=lambda kind: front.Temporality.DELTA)
                     for _ in range(3)]
        exporters[0].upload(b"")
        cycle = [exporters[1]]
        cycle.append(cycle)
        print("done")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert result.stderr == ""


# -- network reach ---------------------------------------------------------------------------


def test_proxy_and_unix_socket_settings(front: Any, receiver: Any, make_exporter: Any, tmp_path: Any) -> None:
    # "" turns proxying off whatever the environment says: the upload reaches the receiver.
    exporter = make_exporter(proxy="")
    exporter.upload(samples.resource_metrics().SerializeToString())
    assert len(receiver.wait_for(1)) == 1

    missing = tmp_path / "missing.sock"
    exporter = make_exporter(unix_socket=missing, endpoint="http://localhost:4318/v1/metrics")
    with pytest.raises(front.ExportError) as info:
        exporter.upload(samples.resource_metrics().SerializeToString())
    assert f"Unix socket {missing}" in info.value.message

    with pytest.raises(front.InvalidArgumentError) as refused:
        front.Exporter(proxy="socks5://user:pr0xy-pw@127.0.0.1:1080")
    assert "socks5" in refused.value.message
    assert "pr0xy-pw" not in refused.value.message
    with pytest.raises(front.InvalidArgumentError):
        front.Exporter(unix_socket="")
