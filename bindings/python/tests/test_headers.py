"""The header callback: headers computed before each attempt."""

from __future__ import annotations

import logging
from typing import Any, List

import samples

FAST_RETRY = {"initial_ms": 10, "max_interval_ms": 20, "max_elapsed_ms": 2000}


def test_each_attempt_carries_a_fresh_token(front: Any, receiver: Any, make_exporter: Any, caplog: Any) -> None:
    from otlp_receiver import Reply

    receiver.replies = [Reply(status=503), Reply(status=503)]
    calls: List[int] = []

    def token() -> Any:
        calls.append(1)
        return {"Authorization": f"Bearer secret-{len(calls)}"}

    exporter = make_exporter(retry=FAST_RETRY, headers={"x-static": "kept"}, header_callback=token)
    with caplog.at_level(logging.DEBUG, logger="otlpmetric"):
        exporter.upload(samples.resource_metrics().SerializeToString())
    seen = [(r.headers["authorization"], r.headers["x-static"]) for r in receiver.requests]
    assert seen == [(f"Bearer secret-{n}", "kept") for n in (1, 2, 3)]
    assert "secret" not in caplog.text


def test_a_raising_or_refused_callback_fails_the_attempt(
    front: Any, receiver: Any, make_exporter: Any, caplog: Any
) -> None:
    answers: List[Any] = [RuntimeError("value secret-1"), [("content-type", "secret-2")], [("x-token", "ok")]]

    def headers() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    exporter = make_exporter(retry=FAST_RETRY, header_callback=headers)
    with caplog.at_level(logging.WARNING, logger="otlpmetric"):
        exporter.upload(samples.resource_metrics().SerializeToString())
    assert [r.headers.get("x-token") for r in receiver.requests] == ["ok"]
    assert exporter.stats().retries == 2
    assert "RuntimeError" in caplog.text and "content-type" in caplog.text
    assert "secret" not in caplog.text


def test_header_callback_must_be_callable(front: Any) -> None:
    import pytest

    with pytest.raises(TypeError):
        front.Exporter(header_callback="token")


def test_max_response_bytes(front: Any, make_exporter: Any) -> None:
    import pytest

    make_exporter(max_response_bytes=1 << 16)
    with pytest.raises(front.InvalidArgumentError) as info:
        make_exporter(max_response_bytes=0)
    assert "max_response_bytes" in info.value.message
