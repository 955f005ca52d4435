"""The cffi front (ABI mode): the same API as :mod:`otlpmetric`, with the declarations
read from the generated header (``$OTLPMETRIC_HEADER``, else the source checkout's
``include/otlpmetric.h``, else the one the package's build put into it)."""

from __future__ import annotations

from . import _cffi_impl, _core
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

# The front's own names, then the shared types re-exported above.
__all__ = ["Exporter", "MeterProvider", "Meter", "Instrument", "Bound", "Observer", "Cancel", "version", "status_str", "library_path", "header_path", *_types.__all__]


class Exporter(_core.Exporter):
    __doc__ = _core.Exporter.__doc__
    _load_backend = staticmethod(_cffi_impl.load)


class MeterProvider(_core.MeterProvider):
    __doc__ = _core.MeterProvider.__doc__
    _load_backend = staticmethod(_cffi_impl.load)


Meter = _core.Meter
Instrument = _core.Instrument
Bound = _core.Bound
Observer = _core.Observer


class Cancel(_core.Cancel):
    __doc__ = _core.Cancel.__doc__
    _load_backend = staticmethod(_cffi_impl.load)


def version() -> str:
    """The native library's version, e.g. ``"0.1.0"`` (loads the library)."""
    return _cffi_impl.load().version()


def status_str(status: int) -> str:
    """The C name of a status code, e.g. ``"OTLPMETRIC_ERR_TIMEOUT"``."""
    return _cffi_impl.load().status_str(int(status))


def library_path() -> str:
    """The native library in use (loads it)."""
    return _cffi_impl.load().path


def header_path() -> str:
    """The header whose declarations were given to ``ffi.cdef`` (loads the library)."""
    return _cffi_impl.load().header_path


def __getattr__(name: str):
    # ``otlpmetric.cffi.ffi`` / ``.lib``: the raw cffi objects, for calls this module
    # does not wrap. Loaded on first access.
    if name in ("ffi", "lib"):
        return getattr(_cffi_impl.load(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
