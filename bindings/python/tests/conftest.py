from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from otlp_receiver import Receiver  # noqa: E402

#: The repository root (tests live in bindings/python/tests).
REPO = Path(__file__).resolve().parents[3]


def repo_header() -> Path:
    env = os.environ.get("OTLPMETRIC_HEADER")
    return Path(env) if env else REPO / "include" / "otlpmetric.h"


@pytest.fixture(params=["ctypes", "cffi"])
def front(request: pytest.FixtureRequest) -> Any:
    """The module of one front: ``otlpmetric`` (ctypes) or ``otlpmetric.cffi``."""
    return importlib.import_module("otlpmetric" if request.param == "ctypes" else "otlpmetric.cffi")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def make_exporter(front: Any, receiver: Receiver) -> Iterator[Callable[..., Any]]:
    """Creates exporters of the current front aimed at the receiver (no retries, 5 s
    timeout unless given); closes them at the end of the test."""
    made: List[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("endpoint", receiver.url)
        kwargs.setdefault("retry", False)
        kwargs.setdefault("timeout_ms", 5000)
        exporter = front.Exporter(**kwargs)
        made.append(exporter)
        return exporter

    yield make
    for exporter in made:
        exporter.close()
