"""Enums, errors and plain data types shared by both fronts (ctypes and cffi)."""

from __future__ import annotations

import enum
import math
import numbers
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Tuple, Type

__all__ = [
    "Status",
    "Protocol",
    "Compression",
    "InstrumentKind",
    "Temporality",
    "AggregationKind",
    "LogLevel",
    "Aggregation",
    "Retry",
    "Stats",
    "DEFAULT_BOUNDARIES",
    "Error",
    "InvalidArgumentError",
    "DecodeError",
    "ShutdownError",
    "ExportTimeoutError",
    "ExportError",
    "QueueFullError",
    "InternalError",
    "ExportCancelledError",
    "LibraryNotFoundError",
]


class Status(enum.IntEnum):
    """``otlpmetric_status``: the result of every C call that can fail."""

    OK = 0
    ERR_INVALID_ARGUMENT = 1
    ERR_DECODE = 2
    ERR_SHUTDOWN = 3
    ERR_TIMEOUT = 4
    ERR_EXPORT = 5
    ERR_QUEUE_FULL = 6
    ERR_INTERNAL = 7
    ERR_CANCELLED = 8


class Protocol(enum.IntEnum):
    """``otlpmetric_protocol``."""

    GRPC = 1
    HTTP_PROTOBUF = 2
    HTTP_JSON = 3


class Compression(enum.IntEnum):
    """``otlpmetric_compression``."""

    NONE = 0
    GZIP = 1
    ZSTD = 2


class InstrumentKind(enum.IntEnum):
    """``otlpmetric_instrument_kind``: the instrument kinds of the metrics API."""

    COUNTER = 1
    UP_DOWN_COUNTER = 2
    HISTOGRAM = 3
    GAUGE = 4
    OBSERVABLE_COUNTER = 5
    OBSERVABLE_UP_DOWN_COUNTER = 6
    OBSERVABLE_GAUGE = 7


class Temporality(enum.IntEnum):
    """``otlpmetric_temporality``: the same numbers as OTLP's AggregationTemporality."""

    DELTA = 1
    CUMULATIVE = 2


class AggregationKind(enum.IntEnum):
    """``otlpmetric_aggregation_kind``."""

    DROP = 1
    SUM = 2
    LAST_VALUE = 3
    EXPLICIT_BUCKET_HISTOGRAM = 4
    BASE2_EXPONENTIAL_HISTOGRAM = 5


class LogLevel(enum.IntEnum):
    """``otlpmetric_log_level``: severity of a message given to the log callback."""

    ERROR = 1
    WARN = 2
    INFO = 3
    DEBUG = 4


class SpoolDurability(enum.IntEnum):
    """``otlpmetric_spool_durability``: when spooled records are forced to disk."""

    INTERVAL = 0
    EVERY_RECORD = 1
    NEVER = 2


class SpoolFullPolicy(enum.IntEnum):
    """``otlpmetric_spool_full_policy``: what a full spool does."""

    DROP_OLDEST = 0
    REFUSE_NEW = 1


#: Each Python enum, the C typedef it mirrors and the prefix of its C constants
#: (checked against the header by the tests and by the ctypes front when it loads).
C_ENUMS: Dict[Type[enum.IntEnum], Tuple[str, str]] = {
    Status: ("otlpmetric_status", "OTLPMETRIC_"),
    Protocol: ("otlpmetric_protocol", "OTLPMETRIC_PROTOCOL_"),
    Compression: ("otlpmetric_compression", "OTLPMETRIC_COMPRESSION_"),
    InstrumentKind: ("otlpmetric_instrument_kind", "OTLPMETRIC_INSTRUMENT_"),
    Temporality: ("otlpmetric_temporality", "OTLPMETRIC_TEMPORALITY_"),
    AggregationKind: ("otlpmetric_aggregation_kind", "OTLPMETRIC_AGGREGATION_"),
    LogLevel: ("otlpmetric_log_level", "OTLPMETRIC_LOG_"),
    SpoolDurability: ("otlpmetric_spool_durability", "OTLPMETRIC_SPOOL_SYNC_"),
    SpoolFullPolicy: ("otlpmetric_spool_full_policy", "OTLPMETRIC_SPOOL_FULL_"),
}

#: The default explicit bucket histogram boundaries of the OpenTelemetry SDKs.
DEFAULT_BOUNDARIES: Tuple[float, ...] = (
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0,
    1000.0, 2500.0, 5000.0, 7500.0, 10000.0,
)  # fmt: skip


def _enum_or_int(enum_type, value):
    """``value`` as a member of ``enum_type`` when it is one, else the plain int (the
    library is the judge of unknown values and says so with ERR_INVALID_ARGUMENT)."""
    try:
        return enum_type(value)
    except ValueError:
        return value


@dataclass(frozen=True)
class Aggregation:
    """An aggregation and its parameters (``otlpmetric_aggregation``).

    ``boundaries`` only matters for ``EXPLICIT_BUCKET_HISTOGRAM`` (empty means a single
    bucket; :data:`DEFAULT_BOUNDARIES` are the SDK defaults), ``record_min_max`` for the
    two histograms, ``max_size`` and ``max_scale`` for the exponential histogram.
    """

    kind: AggregationKind
    boundaries: Tuple[float, ...] = ()
    record_min_max: bool = True
    max_size: int = 160
    max_scale: int = 20

    def __post_init__(self) -> None:
        kind = self.kind
        if isinstance(kind, bool) or not isinstance(kind, int):
            raise TypeError(f"Aggregation.kind must be an AggregationKind, not {type(kind).__name__}")
        object.__setattr__(self, "kind", _enum_or_int(AggregationKind, kind))
        if isinstance(self.boundaries, (str, bytes)):
            raise TypeError("Aggregation.boundaries must be a sequence of numbers")
        try:
            boundaries = tuple(self.boundaries)
        except TypeError:
            raise TypeError("Aggregation.boundaries must be a sequence of numbers") from None
        if not all(isinstance(b, numbers.Real) and not isinstance(b, bool) for b in boundaries):
            raise TypeError("Aggregation.boundaries must be a sequence of numbers")
        boundaries = tuple(float(b) for b in boundaries)
        object.__setattr__(self, "boundaries", boundaries)
        object.__setattr__(self, "record_min_max", bool(self.record_min_max))
        for name in ("max_size", "max_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Aggregation.{name} must be an int, not {type(value).__name__}")


def _default_aggregation(kind: int) -> Aggregation:
    """The SDK default aggregation of an instrument kind (before any environment)."""
    if kind in (InstrumentKind.GAUGE, InstrumentKind.OBSERVABLE_GAUGE):
        return Aggregation(AggregationKind.LAST_VALUE)
    if kind == InstrumentKind.HISTOGRAM:
        return Aggregation(AggregationKind.EXPLICIT_BUCKET_HISTOGRAM, DEFAULT_BOUNDARIES)
    return Aggregation(AggregationKind.SUM)


def _normalized(agg: Aggregation) -> Aggregation:
    """``agg`` with the fields that do not apply to its kind set to the dataclass defaults,
    so that equal aggregations compare equal whatever the unused fields held."""
    kind = agg.kind
    return Aggregation(
        kind,
        agg.boundaries if kind == AggregationKind.EXPLICIT_BUCKET_HISTOGRAM else (),
        agg.record_min_max
        if kind in (AggregationKind.EXPLICIT_BUCKET_HISTOGRAM, AggregationKind.BASE2_EXPONENTIAL_HISTOGRAM)
        else True,
        agg.max_size if kind == AggregationKind.BASE2_EXPONENTIAL_HISTOGRAM else 160,
        agg.max_scale if kind == AggregationKind.BASE2_EXPONENTIAL_HISTOGRAM else 20,
    )


@dataclass(frozen=True)
class Retry:
    """The retry policy (``otlpmetric_config_set_retry``); the defaults are the library's."""

    enabled: bool = True
    initial_ms: int = 5000
    max_interval_ms: int = 30000
    max_elapsed_ms: int = 60000


@dataclass(frozen=True)
class Stats:
    """``otlpmetric_stats``: all but ``queue_bytes`` only grow."""

    requests_sent: int = 0
    requests_failed: int = 0
    retries: int = 0
    bytes_sent: int = 0
    data_points_rejected: int = 0
    queue_dropped: int = 0
    queue_bytes: int = 0


STATS_FIELDS = (
    "requests_sent",
    "requests_failed",
    "retries",
    "bytes_sent",
    "data_points_rejected",
    "queue_dropped",
    "queue_bytes",
)

#: The fields of ``otlpmetric_spool_stats``, in order.
SPOOL_STATS_FIELDS = (
    "records_spooled",
    "records_delivered",
    "records_skipped",
    "records_dropped",
    "records_rejected",
    "bytes_waiting",
    "bytes_on_disk",
)


class Error(Exception):
    """A failed call: ``status`` (a :class:`Status`) and ``message`` (from
    ``otlpmetric_last_error()``, read on the calling thread right after the call)."""

    status: Status
    message: str

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(status, message)
        self.status = _enum_or_int(Status, status)
        self.message = message
        if isinstance(self, OSError):
            # Not an errno: keep OSError's fields from pretending it is.
            self.errno = None
            self.strerror = message

    def __str__(self) -> str:
        if self.message:
            return self.message
        return self.status.name if isinstance(self.status, Status) else f"status {self.status}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status!r}, {self.message!r})"

    @staticmethod
    def from_status(status: int, message: str = "") -> "Error":
        """The right subclass of :class:`Error` for ``status``."""
        return _ERRORS.get(status, Error)(status, message)


class InvalidArgumentError(Error, ValueError):
    """ERR_INVALID_ARGUMENT: a bad value, enum or selector answer."""


class DecodeError(Error, ValueError):
    """ERR_DECODE: the bytes are not a valid message of the expected type."""


class ShutdownError(Error):
    """ERR_SHUTDOWN: the exporter was already shut down (or closed)."""


class ExportTimeoutError(Error, TimeoutError):
    """ERR_TIMEOUT: the deadline passed first. Also a builtin :class:`TimeoutError`."""


class ExportError(Error):
    """ERR_EXPORT: the receiver refused the data, or every retry failed."""


class QueueFullError(Error):
    """ERR_QUEUE_FULL: the asynchronous queue is full."""


class InternalError(Error):
    """ERR_INTERNAL: a bug inside the library (a caught panic)."""


class ExportCancelledError(Error):
    """ERR_CANCELLED: the call's :class:`~otlpmetric.Cancel` was triggered."""


_ERRORS: Dict[int, Type[Error]] = {
    Status.ERR_INVALID_ARGUMENT: InvalidArgumentError,
    Status.ERR_DECODE: DecodeError,
    Status.ERR_SHUTDOWN: ShutdownError,
    Status.ERR_TIMEOUT: ExportTimeoutError,
    Status.ERR_EXPORT: ExportError,
    Status.ERR_QUEUE_FULL: QueueFullError,
    Status.ERR_INTERNAL: InternalError,
    Status.ERR_CANCELLED: ExportCancelledError,
}


class LibraryNotFoundError(OSError):
    """The native library ``libotlpmetric`` (or the header, for the cffi front) was not found;
    the message lists every place that was tried."""


def _u32(name: str, value: Optional[float]) -> int:
    """A ``uint32_t`` argument; out-of-range values are InvalidArgumentError, not wrapped."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if isinstance(value, float):
        if math.isnan(value):
            raise InvalidArgumentError(Status.ERR_INVALID_ARGUMENT, f"{name}: NaN is not a valid value")
        if math.isinf(value) and value > 0:
            return 0xFFFFFFFF
        value = int(math.ceil(value))
    if not 0 <= value <= 0xFFFFFFFF:
        raise InvalidArgumentError(
            Status.ERR_INVALID_ARGUMENT, f"{name}: {value} is out of range (0 to 4294967295)"
        )
    return value


def _size(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value < 2**63:
        raise InvalidArgumentError(Status.ERR_INVALID_ARGUMENT, f"{name}: {value} is out of range")
    return value


def _enum_arg(name: str, value, enum_type, aliases: Optional[Dict[str, int]] = None) -> int:
    """An enum argument as a plain ``int32``: an enum member, an int, or (where ``aliases``
    are given) a name such as ``"grpc"``. Unknown ints go through for the library to refuse."""
    if isinstance(value, str):
        key = value.strip().lower()
        if aliases and key in aliases:
            return aliases[key]
        try:
            return int(enum_type[value.strip().upper()])
        except KeyError:
            raise InvalidArgumentError(
                Status.ERR_INVALID_ARGUMENT, f"{name}: unknown value {value!r}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a {enum_type.__name__}, not {type(value).__name__}")
    if not -(2**31) <= value < 2**31:
        raise InvalidArgumentError(Status.ERR_INVALID_ARGUMENT, f"{name}: {value} is out of range")
    return int(value)


def _kinds() -> Iterable[InstrumentKind]:
    return iter(InstrumentKind)
