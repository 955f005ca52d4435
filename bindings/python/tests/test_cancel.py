"""Cancellation: otlpmetric.Cancel ends uploads and flushes promptly."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest

import samples


def _trigger_later(cancel: Any, delay: float) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        cancel.trigger()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _expect_prompt_cancel(front: Any, cancel: Any, call: Callable[[], None]) -> None:
    trigger = _trigger_later(cancel, 0.3)
    started = time.monotonic()
    with pytest.raises(front.ExportCancelledError) as info:
        call()
    took = time.monotonic() - started
    trigger.join()
    assert info.value.status == front.Status.ERR_CANCELLED
    assert "cancel" in info.value.message
    assert 0.25 < took < 2, took


def test_a_hung_upload_is_cancelled_promptly(front: Any, receiver: Any, make_exporter: Any) -> None:
    from otlp_receiver import Reply

    receiver.default = Reply(hang=True)
    exporter = make_exporter(timeout_ms=20000)
    data = samples.resource_metrics().SerializeToString()
    with front.Cancel() as cancel:
        _expect_prompt_cancel(front, cancel, lambda: exporter.upload(data, cancel=cancel))
        # Triggered stays triggered.
        with pytest.raises(front.ExportCancelledError):
            exporter.upload(data, cancel=cancel)
    # The second call returned before sending anything.
    assert exporter.stats().requests_failed == 1
    assert len(receiver.requests) == 1


def test_a_flush_waiting_for_a_hung_upload_is_cancelled(front: Any, receiver: Any, make_exporter: Any) -> None:
    from otlp_receiver import Reply

    receiver.default = Reply(hang=True)
    exporter = make_exporter(timeout_ms=1500)
    data = samples.resource_metrics().SerializeToString()
    outcome: list = []

    def hung_upload() -> None:
        try:
            exporter.upload(data)
        except front.Error as e:
            outcome.append(e)

    upload = threading.Thread(target=hung_upload)
    upload.start()
    receiver.wait_for(1)
    cancel = front.Cancel()
    _expect_prompt_cancel(front, cancel, lambda: exporter.force_flush(timeout_ms=20000, cancel=cancel))
    upload.join()
    assert [type(e) for e in outcome] == [front.ExportTimeoutError], "the upload is not cancelled with the flush"
    cancel.close()


def test_a_triggered_cancel_returns_at_once_and_none_is_uncancellable(
    front: Any, receiver: Any, make_exporter: Any
) -> None:
    exporter = make_exporter()
    data = samples.resource_metrics().SerializeToString()
    cancel = front.Cancel()
    cancel.trigger()
    cancel.trigger()
    started = time.monotonic()
    with pytest.raises(front.ExportCancelledError):
        exporter.upload(data, cancel=cancel)
    with pytest.raises(front.ExportCancelledError):
        exporter.force_flush(cancel=cancel)
    assert time.monotonic() - started < 1
    assert receiver.requests == []
    exporter.upload(data, cancel=None)
    exporter.force_flush(cancel=None)
    assert len(receiver.requests) == 1
    cancel.close()
    cancel.close()
    cancel.trigger()  # after close: nothing


def test_bad_cancel_arguments(front: Any, make_exporter: Any) -> None:
    exporter = make_exporter(endpoint="http://127.0.0.1:9/v1/metrics")
    data = samples.resource_metrics().SerializeToString()
    with pytest.raises(TypeError):
        exporter.upload(data, cancel="now")
    other = __import__("otlpmetric.cffi" if front.__name__ == "otlpmetric" else "otlpmetric", fromlist=["Cancel"])
    with other.Cancel() as foreign, pytest.raises(TypeError):
        exporter.force_flush(cancel=foreign)
    closed = front.Cancel()
    closed.close()
    with pytest.raises(front.InvalidArgumentError):
        exporter.upload(data, cancel=closed)


def test_cancelled_status_names(front: Any) -> None:
    assert front.status_str(front.Status.ERR_CANCELLED) == "OTLPMETRIC_ERR_CANCELLED"
    e = front.Error.from_status(8, "m")
    assert type(e) is front.ExportCancelledError
