"""examples/python/periodic.py runs against a receiver and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from conftest import REPO

EXAMPLE = REPO / "examples" / "python" / "periodic.py"

pytestmark = [
    pytest.mark.skipif(not EXAMPLE.is_file(), reason="not run from a source checkout"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def test_rounds(receiver: Any) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), receiver.url, "--rounds", "2", "--interval-ms", "100"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "2 rounds" in result.stderr
    names = {m.name for r in receiver.requests for rm in r.request().resource_metrics
             for sm in rm.scope_metrics for m in sm.metrics}
    assert {"example.requests", "example.latency", "example.temperature"} <= names


def test_sigterm_from_environment_endpoint(receiver: Any) -> None:
    env = {**os.environ, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": receiver.url}
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--interval-ms", "100"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        receiver.wait_for(1, timeout=20)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping" in err


INSTRUMENTS = REPO / "examples" / "python" / "instruments.py"


def test_instruments_example(receiver: Any) -> None:
    result = subprocess.run(
        [sys.executable, str(INSTRUMENTS), receiver.url, "--requests", "30"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    names = {m.name for r in receiver.requests for rm in r.request().resource_metrics
             for sm in rm.scope_metrics for m in sm.metrics}
    assert {"example.requests", "example.latency", "example.memory"} <= names
