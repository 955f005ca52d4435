"""otlpmetric: OpenTelemetry OTLP metrics export through the native ``libotlpmetric``.

This module is the ctypes front; :mod:`otlpmetric.cffi` offers the same :class:`Exporter`
through cffi, and :mod:`otlpmetric.sdk` an exporter for the OpenTelemetry Python SDK.
The native library is loaded on first use (see :func:`library_path` for where it is
looked for)::

    import otlpmetric

    with otlpmetric.Exporter(endpoint="http://localhost:4318/v1/metrics") as exporter:
        exporter.upload(resource_metrics.SerializeToString())
"""

from __future__ import annotations

from . import _core, _ctypes_impl
from . import _types
from ._types import (
    DEFAULT_BOUNDARIES,
    Aggregation,
    AggregationKind,
    Compression,
    DecodeError,
    Error,
    ExportCancelledError,
    ExportError,
    ExportTimeoutError,
    InstrumentKind,
    InternalError,
    InvalidArgumentError,
    LibraryNotFoundError,
    LogLevel,
    Protocol,
    QueueFullError,
    Retry,
    ShutdownError,
    Stats,
    Status,
    Temporality,
)

__version__ = "0.1.0"

# The front's own names, then the shared types re-exported above.
__all__ = ["Exporter", "MeterProvider", "Meter", "Instrument", "Bound", "Observer", "Cancel", "version", "status_str", "library_path", *_types.__all__]


class Exporter(_core.Exporter):
    __doc__ = _core.Exporter.__doc__
    _load_backend = staticmethod(_ctypes_impl.load)


class MeterProvider(_core.MeterProvider):
    __doc__ = _core.MeterProvider.__doc__
    _load_backend = staticmethod(_ctypes_impl.load)


Meter = _core.Meter
Instrument = _core.Instrument
Bound = _core.Bound
Observer = _core.Observer


class Cancel(_core.Cancel):
    __doc__ = _core.Cancel.__doc__
    _load_backend = staticmethod(_ctypes_impl.load)


def version() -> str:
    """The native library's version, e.g. ``"0.1.0"`` (loads the library)."""
    return _ctypes_impl.load().version()


def status_str(status: int) -> str:
    """The C name of a status code, e.g. ``"OTLPMETRIC_ERR_TIMEOUT"``."""
    return _ctypes_impl.load().status_str(int(status))


def library_path() -> str:
    """The native library in use (loads it): ``$OTLPMETRIC_LIBRARY``, else a copy in the
    package directory, else ``target/release`` or ``target/debug`` of the source checkout
    (the fresher), else ``ctypes.util.find_library("otlpmetric")``."""
    return _ctypes_impl.load().path
