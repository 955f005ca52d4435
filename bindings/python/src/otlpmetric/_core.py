"""The Python-level logic of both fronts.

:class:`Exporter` does everything that is not a foreign call: argument checking,
configuration, callbacks (with their exception handling), errors, lifetime. It talks to
the library through a backend (``_ctypes_impl.Backend`` or ``_cffi_impl.Backend``) whose
methods are thin foreign calls taking and returning plain Python values.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union

from ._types import (
    Aggregation,
    Compression,
    Error,
    InstrumentKind,
    InvalidArgumentError,
    LogLevel,
    Protocol,
    Retry,
    ShutdownError,
    Stats,
    Status,
    Temporality,
    STATS_FIELDS,
    _enum_arg,
    _enum_or_int,
    _normalized,
    _size,
    _u32,
)

__all__ = ["Exporter", "MeterProvider", "Meter", "Instrument", "Bound", "Observer", "Backend", "AggregationTuple"]

logger = logging.getLogger("otlpmetric")

#: (kind, boundaries, record_min_max, max_size, max_scale): an aggregation as plain values.
AggregationTuple = Tuple[int, Tuple[float, ...], bool, int, int]
#: What an aggregation trampoline writes when the Python selector failed: kind 0 is no
#: aggregation kind, so the library refuses it with ERR_INVALID_ARGUMENT.
#: (key, type, string value, int value, double value): one ``otlpmetric_attribute``.
AttributeTuple = Tuple[bytes, int, Optional[bytes], int, float]
INVALID_AGGREGATION: AggregationTuple = (0, (), False, 0, 0)
MAX_BOUNDARIES = 65536

_LOG_LEVELS = {
    LogLevel.ERROR: logging.ERROR,
    LogLevel.WARN: logging.WARNING,
    LogLevel.INFO: logging.INFO,
    LogLevel.DEBUG: logging.DEBUG,
}

_PROTOCOL_NAMES = {"grpc": 1, "http/protobuf": 2, "http/json": 3, "http_protobuf": 2, "http_json": 3}
_COMPRESSION_NAMES = {"none": 0, "gzip": 1, "zstd": 2, "": 0}


class Backend:
    """The foreign calls a front provides. Handles are opaque Python objects; ``status``
    results are plain ints; every method reads nothing but what it is given."""

    name = "?"
    path = "?"

    def has(self, function: str) -> bool: ...
    def last_error(self) -> str: ...
    def status_str(self, status: int) -> str: ...
    def version(self) -> str: ...
    def call(self, function: str, *args: Any) -> int:
        """Calls ``function`` with handles, ints, bools, ``bytes`` strings (NUL-terminated
        by the backend) and None (NULL), and returns its int result."""
    def config_new(self) -> Any: ...
    def config_free(self, config: Any) -> None: ...
    def exporter_new(self, config: Any) -> Tuple[int, Any]: ...
    def exporter_free(self, exporter: Any) -> None: ...
    def cancel_new(self) -> Tuple[int, Any]: ...
    def send(self, function: str, exporter: Any, data: bytes, *rest: int) -> int:
        """Calls ``function(exporter, data, len(data), *rest)``."""
    def aggregation(self, exporter: Any, kind: int) -> Tuple[int, Optional[AggregationTuple]]: ...
    def stats(self, exporter: Any) -> Tuple[int, Optional[Tuple[int, ...]]]: ...
    def temporality_selector(self, select: Callable[[int], int]) -> Any:
        """A C ``otlpmetric_temporality_selector`` calling ``select(kind)`` (which never raises)."""
    def aggregation_selector(
        self, select: Callable[[int, AggregationTuple], Optional[AggregationTuple]], keep: List[Any]
    ) -> Any:
        """A C ``otlpmetric_aggregation_selector``: ``select(kind, default)`` (which never
        raises) returns None to keep ``*out`` or the values to write; arrays that ``*out``
        points to are appended to ``keep``."""
    def log_callback(self, log: Callable[[int, str], None]) -> Any:
        """A C ``otlpmetric_log_callback`` calling ``log(level, message)`` (which never raises)."""
    def header_callback(self, produce: Callable[[Any], int]) -> Any:
        """A C ``otlpmetric_header_callback`` returning ``produce(out)`` (which never raises)."""
    def new_handle(self, function: str, *args: Any) -> Tuple[int, Any]:
        """Calls ``function(*args, &out)``: (status, the handle written to ``out``)."""
    def attributes(self, items: List[AttributeTuple]) -> Tuple[Any, int, Any]:
        """A C attribute array of ``items``: (pointer or NULL, length, what must stay alive
        while the pointer is used)."""
    def collect(self, provider: Any) -> Tuple[int, bytes]:
        """``otlpmetric_meter_provider_collect`` (status, the bytes; the buffer is freed)."""
    def observe_callback(self, observe: Callable[[Any], None]) -> Any:
        """A C ``otlpmetric_observe_callback`` calling ``observe(observer)`` (which never raises)."""


# Every exporter not yet freed, so that they are freed before the interpreter goes
# away (their log callbacks may run on the library's threads until then).
_live: "weakref.WeakSet[Exporter]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for exporter in list(_live):
        try:
            exporter.close()
        except Exception:  # pragma: no cover - best effort at exit
            pass


def _as_bytes(name: str, data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{name} must be bytes, bytearray or memoryview, not {type(data).__name__}")


def _c_string(name: str, value: Any) -> bytes:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if b"\0" in value:
        raise InvalidArgumentError(Status.ERR_INVALID_ARGUMENT, f"{name} contains a NUL character")
    return value


def _log_to_logging(level: int, message: str) -> None:
    logger.log(_LOG_LEVELS.get(level, logging.WARNING), "%s", message)


class _Configured:
    """An OTLP metrics exporter backed by the native library.

    Keyword arguments mirror the ``otlpmetric_config_set_*`` setters; None leaves a
    setting to the ``OTEL_EXPORTER_OTLP_*`` environment and the library defaults.

    - ``endpoint``: full URL used as given (``http://host:4318/v1/metrics`` for HTTP).
    - ``protocol``: :class:`Protocol` (or ``"grpc"``, ``"http/protobuf"``, ``"http/json"``).
    - ``headers``: a mapping or pairs, sent with every request.
    - ``timeout_ms``: export timeout (0: no limit).
    - ``compression``: :class:`Compression` (or ``"gzip"``, ``"zstd"``, ``"none"``).
    - ``tls_ca_file``, ``tls_client_cert_file``, ``tls_client_key_file``: PEM files.
    - ``insecure``: gRPC without TLS even to ``https://``.
    - ``proxy``: an HTTP proxy URL (``http://user:password@host:port``) for every endpoint,
      or ``""`` for none; None leaves it to ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``.
    - ``unix_socket``: connect to this Unix domain socket; the endpoint still gives the
      scheme, ``Host`` and path (a gRPC endpoint may also be ``unix:///path``).
    - ``retry``: a :class:`Retry`, a dict of its fields, or a bool.
    - ``temporality``: a :class:`Temporality` for every kind, a dict kind -> temporality
      (kinds left out keep the library default) or a callable ``kind -> Temporality``.
    - ``aggregation``: an :class:`Aggregation` for every kind, a dict kind -> aggregation
      or a callable ``(kind, default) -> Aggregation | None`` (None keeps ``default``,
      whose every field holds the SDK default, so ``dataclasses.replace(default, ...)``
      changes only what it names).
    - ``log``: ``callable(level: LogLevel, message: str)`` for the library's diagnostics,
      called from any thread; by default they go to the :mod:`logging` logger
      ``"otlpmetric"`` at the matching level; ``False`` drops them.
    - ``max_request_bytes``, ``queue_bytes``: request split size and asynchronous queue bound.
    - ``max_response_bytes``: the largest response body read (default 4 MiB).
    - ``header_callback``: ``callable() -> mapping or pairs (or None)`` called before each
      attempt (on the uploading thread, or the library's for :meth:`enqueue`); what it
      returns is sent besides ``headers`` (replacing those of the same name), e.g. a
      token that changes. Raising (or returning a header the library refuses) fails
      that attempt, which is retried as the retry policy allows. Values are never logged.

    A Python exception raised by a selector makes the constructor raise it (its
    ``__cause__`` is the library's :class:`InvalidArgumentError`); one raised by the log
    callback is logged and dropped. Calls are thread-safe; :meth:`close` waits for calls
    running on other threads. The log callback must not call back into the exporter.
    """

    # Set by each front: returns its (cached) backend, loading the library on first use.
    _load_backend: Callable[[], Backend]
    # What frees the native handle (it must also shut it down first).
    _free_function = "otlpmetric_exporter_free"
    _what = "exporter"

    def _create(self, config: Any) -> Tuple[int, Any]:
        """Makes the native object from the finished ``config`` (status, handle)."""
        raise NotImplementedError

    def _after_create(self) -> None:
        """Runs once the handle is set; raising closes it."""

    def __init__(
        self,
        endpoint: Optional[str] = None,
        protocol: Union[Protocol, int, str, None] = None,
        headers: Union[Mapping[str, str], List[Tuple[str, str]], None] = None,
        timeout_ms: Optional[int] = None,
        compression: Union[Compression, int, str, None] = None,
        tls_ca_file: Union[str, "os.PathLike[str]", None] = None,
        tls_client_cert_file: Union[str, "os.PathLike[str]", None] = None,
        tls_client_key_file: Union[str, "os.PathLike[str]", None] = None,
        insecure: Optional[bool] = None,
        proxy: Optional[str] = None,
        unix_socket: Union[str, "os.PathLike[str]", None] = None,
        retry: Union[Retry, Mapping[str, Any], bool, None] = None,
        temporality: Union[Temporality, int, Mapping[int, int], Callable[[InstrumentKind], int], None] = None,
        aggregation: Union[
            Aggregation,
            Mapping[int, Aggregation],
            Callable[[InstrumentKind, Aggregation], Optional[Aggregation]],
            None,
        ] = None,
        log: Union[Callable[[LogLevel, str], Any], bool, None] = None,
        max_request_bytes: Optional[int] = None,
        queue_bytes: Optional[int] = None,
        header_callback: Optional[Callable[[], Any]] = None,
        max_response_bytes: Optional[int] = None,
    ) -> None:
        self._handle: Any = None
        self._cond = threading.Condition()
        self._busy = 0
        # C callbacks (and arrays they handed out): alive until the exporter is freed.
        self._keepalive: List[Any] = []
        self._temporalities: Dict[int, Temporality] = {}
        self._aggregations: Dict[int, Aggregation] = {}
        if not (header_callback is None or callable(header_callback)):
            raise TypeError(f"header_callback must be a callable or None, not {type(header_callback).__name__}")
        if not (log is None or isinstance(log, bool) or callable(log)):
            raise TypeError(f"log must be a callable, None or False, not {type(log).__name__}")
        b = self._backend = type(self)._load_backend()

        # Python-side exceptions of the selectors during creation, raised afterwards.
        failures: List[BaseException] = []
        config = b.config_new()
        if config is None:
            raise self._error(Status.ERR_INTERNAL, "otlpmetric_config_new returned NULL")
        try:
            if endpoint is not None:
                self._set(b.call("otlpmetric_config_set_endpoint", config, _c_string("endpoint", endpoint)))
            if protocol is not None:
                value = _enum_arg("protocol", protocol, Protocol, _PROTOCOL_NAMES)
                self._set(b.call("otlpmetric_config_set_protocol", config, value))
            if headers is not None:
                items = headers.items() if isinstance(headers, Mapping) else headers
                for key, value in items:
                    self._set(
                        b.call(
                            "otlpmetric_config_add_header",
                            config,
                            _c_string("header name", key),
                            _c_string("header value", value),
                        )
                    )
            if timeout_ms is not None:
                self._set(b.call("otlpmetric_config_set_timeout_ms", config, _u32("timeout_ms", timeout_ms)))
            if compression is not None:
                value = _enum_arg("compression", compression, Compression, _COMPRESSION_NAMES)
                self._set(b.call("otlpmetric_config_set_compression", config, value))
            if tls_ca_file is not None or tls_client_cert_file is not None or tls_client_key_file is not None:
                files = [
                    None if f is None else _c_string(name, f)
                    for name, f in (
                        ("tls_ca_file", tls_ca_file),
                        ("tls_client_cert_file", tls_client_cert_file),
                        ("tls_client_key_file", tls_client_key_file),
                    )
                ]
                self._set(b.call("otlpmetric_config_set_tls", config, *files))
            if insecure is not None:
                self._set(b.call("otlpmetric_config_set_insecure", config, bool(insecure)))
            if proxy is not None:
                self._set(b.call("otlpmetric_config_set_proxy", config, _c_string("proxy", proxy)))
            if unix_socket is not None:
                self._set(b.call("otlpmetric_config_set_unix_socket", config, _c_string("unix_socket", unix_socket)))
            if retry is not None:
                r = _retry(retry)
                self._set(
                    b.call(
                        "otlpmetric_config_set_retry",
                        config,
                        bool(r.enabled),
                        _u32("retry.initial_ms", r.initial_ms),
                        _u32("retry.max_interval_ms", r.max_interval_ms),
                        _u32("retry.max_elapsed_ms", r.max_elapsed_ms),
                    )
                )
            if max_request_bytes is not None:
                self._set(
                    b.call("otlpmetric_config_set_max_request_bytes", config, _size("max_request_bytes", max_request_bytes))
                )
            if queue_bytes is not None:
                self._set(b.call("otlpmetric_config_set_queue", config, _size("queue_bytes", queue_bytes)))
            if max_response_bytes is not None:
                size = _size("max_response_bytes", max_response_bytes)
                self._set(b.call("otlpmetric_config_set_max_response_bytes", config, size))
            if temporality is not None:
                select_t = self._temporality_function(temporality, config)
                cb = b.temporality_selector(_safe_temporality(select_t, failures))
                self._keepalive.append(cb)
                self._set(b.call("otlpmetric_config_set_temporality_selector", config, cb, None))
            if aggregation is not None:
                select_a = _aggregation_function(aggregation)
                cb = b.aggregation_selector(_safe_aggregation(select_a, failures), self._keepalive)
                self._keepalive.append(cb)
                self._set(b.call("otlpmetric_config_set_aggregation_selector", config, cb, None))
            if header_callback is not None:
                cb = b.header_callback(_safe_headers(header_callback, b))
                self._keepalive.append(cb)
                self._set(b.call("otlpmetric_config_set_header_callback", config, cb, None))
            if log is not False:
                cb = b.log_callback(_safe_log(_log_to_logging if log is None or log is True else log))
                self._keepalive.append(cb)
                self._set(b.call("otlpmetric_config_set_log_callback", config, cb, None))

            status, handle = self._create(config)
            message = b.last_error() if status else ""
        finally:
            b.config_free(config)

        if failures:
            if status == Status.OK:  # cannot happen: an invalid answer was given
                b.exporter_free(handle)
            lib_error = self._error(status, message) if status else None
            raise failures[0] from lib_error
        if status:
            raise self._error(status, message)
        self._handle = handle
        _live.add(self)
        try:
            self._after_create()
        except BaseException:
            self.close()
            raise

    # -- helpers -------------------------------------------------------------------------

    def _error(self, status: int, message: Optional[str] = None) -> Error:
        """The exception for ``status``; reads the thread's last error unless given."""
        if message is None:
            message = self._backend.last_error()
        return Error.from_status(status, message)

    def _set(self, status: int) -> None:
        if status:
            raise self._error(status)

    def _temporality_function(self, temporality: Any, config: Any) -> Callable[[int], Any]:
        if callable(temporality):
            return lambda kind: temporality(_enum_or_int(InstrumentKind, kind))
        if isinstance(temporality, Mapping):
            table = {int(k): v for k, v in temporality.items()}
            for kind in InstrumentKind:
                if int(kind) not in table:
                    table[int(kind)] = self._default_temporality(config, kind)
            return lambda kind: table.get(kind, 0)
        if isinstance(temporality, int) and not isinstance(temporality, bool):
            return lambda kind: temporality
        raise TypeError(
            "temporality must be a Temporality, a dict or a callable, not " + type(temporality).__name__
        )

    def _default_temporality(self, config: Any, kind: InstrumentKind) -> int:
        """The temporality ``config`` gives ``kind`` without a selector (the environment's
        preference applied): a selector's answer cannot say "keep the default"."""
        t = self._backend.call("otlpmetric_config_default_temporality", config, int(kind))
        if t == 0:
            raise self._error(Status.ERR_INTERNAL)
        return t

    @contextmanager
    def _using(self) -> Iterator[Any]:
        with self._cond:
            handle = self._handle
            if handle is None:
                raise ShutdownError(Status.ERR_SHUTDOWN, f"the {self._what} was closed")
            self._busy += 1
        try:
            yield handle
        finally:
            with self._cond:
                self._busy -= 1
                if self._busy == 0:
                    self._cond.notify_all()

    # -- the API -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` freed the native exporter."""
        return self._handle is None

    def close(self) -> None:
        """Frees the native exporter (shutting it down first if needed, within the
        configured timeout). Idempotent. Waits for calls running on other threads."""
        cond = getattr(self, "_cond", None)
        if cond is None:  # __init__ failed early
            return
        with cond:
            handle, self._handle = self._handle, None
            while self._busy:
                cond.wait()
        if handle is None:
            return
        _live.discard(self)
        if isinstance(threading.current_thread(), threading._DummyThread):
            # A thread Python did not start: maybe one of the library's own, running a
            # callback during which the garbage collector came here. Freeing an exporter
            # joins its threads, so it is done from a thread of our own instead.
            keep = self._keepalive
            threading.Thread(
                target=_free, args=(self._backend, self._free_function, handle, keep), name="otlpmetric-free"
            ).start()
        else:
            _free(self._backend, self._free_function, handle, self._keepalive)
        self._keepalive = []

    def __enter__(self) -> "Exporter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            try:
                self.shutdown()
            except ShutdownError:
                pass  # already shut down (or closed) inside the block
            except Error:
                if exc_type is None:
                    raise
                logger.warning("shutdown on leaving the with block failed", exc_info=True)
        finally:
            self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - nothing to report to at this point
            pass

    def __repr__(self) -> str:
        state = "closed" if getattr(self, "_handle", None) is None else "open"
        backend = getattr(getattr(self, "_backend", None), "name", "?")
        return f"<{type(self).__module__}.{type(self).__name__} ({backend}) {state}>"


class Exporter(_Configured):
    __doc__ = _Configured.__doc__

    def _create(self, config: Any) -> Tuple[int, Any]:
        return self._backend.exporter_new(config)

    def _after_create(self) -> None:
        self._read_selections()

    def _read_selections(self) -> None:
        """Reads the temporality and aggregation of every kind once (they are fixed for
        the exporter's life), so that they can be asked after :meth:`close` too."""
        b = self._backend
        for kind in InstrumentKind:
            t = b.call("otlpmetric_exporter_temporality", self._handle, int(kind))
            if t == 0:
                raise self._error(Status.ERR_INTERNAL)
            self._temporalities[kind] = _enum_or_int(Temporality, t)
            status, agg = b.aggregation(self._handle, int(kind))
            if status:
                raise self._error(status)
            assert agg is not None
            self._aggregations[kind] = _normalized(_aggregation_from_tuple(agg))

    @contextmanager
    def _using_cancel(self, cancel: "Cancel") -> Iterator[Any]:
        if not isinstance(cancel, Cancel):
            raise TypeError(f"cancel must be an otlpmetric.Cancel, not {type(cancel).__name__}")
        if cancel._backend is not self._backend:
            raise TypeError("cancel was made by the other front (ctypes or cffi) than this exporter")
        with cancel._using() as cancel_handle:
            yield cancel_handle

    def _send(self, function: str, data: bytes, *rest: Any) -> None:
        with self._using() as handle:
            status = self._backend.send(function, handle, data, *rest)
            if status:
                raise self._error(status)

    def upload(self, resource_metrics: bytes, timeout_ms: int = 0, cancel: Optional["Cancel"] = None) -> None:
        """Uploads one serialized ``opentelemetry.proto.metrics.v1.ResourceMetrics``.
        Blocks until the receiver accepted it (a partial success too: it is logged);
        raises :class:`Error` (a subclass per status) otherwise. ``timeout_ms`` 0 means
        the configured export timeout. With a :class:`Cancel`, raises
        :class:`ExportCancelledError` as soon as it is triggered (from another thread)."""
        data = _as_bytes("resource_metrics", resource_metrics)
        timeout = _u32("timeout_ms", timeout_ms)
        if cancel is None:
            self._send("otlpmetric_exporter_upload", data, timeout)
            return
        with self._using_cancel(cancel) as cancel_handle:
            self._send("otlpmetric_exporter_upload_cancellable", data, timeout, cancel_handle)

    def upload_request(self, export_request: bytes, timeout_ms: int = 0) -> None:
        """As :meth:`upload`, for a serialized ``ExportMetricsServiceRequest``."""
        data = _as_bytes("export_request", export_request)
        self._send("otlpmetric_exporter_upload_request", data, _u32("timeout_ms", timeout_ms))

    def upload_json(self, export_request: Union[str, bytes], timeout_ms: int = 0) -> None:
        """As :meth:`upload_request`, for an ``ExportMetricsServiceRequest`` in OTLP/JSON."""
        if isinstance(export_request, str):
            data = export_request.encode("utf-8")
        else:
            data = _as_bytes("export_request", export_request)
        self._send("otlpmetric_exporter_upload_json", data, _u32("timeout_ms", timeout_ms))

    def enqueue(self, resource_metrics: bytes) -> None:
        """Checks and queues one serialized ResourceMetrics for background upload; returns
        at once. :class:`QueueFullError` when the queue is full. Raises
        NotImplementedError when the loaded library has no ``otlpmetric_exporter_enqueue``."""
        data = _as_bytes("resource_metrics", resource_metrics)
        if not self._backend.has("otlpmetric_exporter_enqueue"):
            raise NotImplementedError(
                f"the otlpmetric library at {self._backend.path} has no otlpmetric_exporter_enqueue"
            )
        self._send("otlpmetric_exporter_enqueue", data)

    def force_flush(self, timeout_ms: int = 0, cancel: Optional["Cancel"] = None) -> None:
        """Waits for every upload (and enqueued data) accepted before the call. With a
        :class:`Cancel`, raises :class:`ExportCancelledError` as soon as it is triggered."""
        timeout = _u32("timeout_ms", timeout_ms)
        if cancel is None:
            with self._using() as handle:
                self._set(self._backend.call("otlpmetric_exporter_force_flush", handle, timeout))
            return
        with self._using_cancel(cancel) as cancel_handle, self._using() as handle:
            status = self._backend.call("otlpmetric_exporter_force_flush_cancellable", handle, timeout, cancel_handle)
            self._set(status)

    def shutdown(self, timeout_ms: int = 0) -> None:
        """Flushes and stops the exporter; acts once (later calls raise ShutdownError).
        The native object stays allocated (and :meth:`temporality`, :meth:`aggregation`,
        :meth:`stats` keep answering) until :meth:`close`."""
        timeout = _u32("timeout_ms", timeout_ms)
        with self._using() as handle:
            self._set(self._backend.call("otlpmetric_exporter_shutdown", handle, timeout))

    def temporality(self, kind: Union[InstrumentKind, int]) -> Temporality:
        """The temporality the exporter uses for ``kind``."""
        try:
            return self._temporalities[kind]
        except (KeyError, TypeError):
            raise InvalidArgumentError(Status.ERR_INVALID_ARGUMENT, f"unknown instrument kind {kind!r}") from None

    def aggregation(self, kind: Union[InstrumentKind, int]) -> Aggregation:
        """The aggregation the exporter uses for ``kind``; the fields that do not apply to
        its kind hold the :class:`Aggregation` defaults."""
        try:
            return self._aggregations[kind]
        except (KeyError, TypeError):
            raise InvalidArgumentError(Status.ERR_INVALID_ARGUMENT, f"unknown instrument kind {kind!r}") from None

    def stats(self) -> Stats:
        """The export statistics (works after shutdown, not after close)."""
        with self._using() as handle:
            status, values = self._backend.stats(handle)
            if status:
                raise self._error(status)
        assert values is not None
        return Stats(**dict(zip(STATS_FIELDS, values)))



_ATTRIBUTE_STRING, _ATTRIBUTE_BOOL, _ATTRIBUTE_INT, _ATTRIBUTE_DOUBLE = 1, 2, 3, 4
_NUMBER_INT64, _NUMBER_DOUBLE = 1, 2
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _attribute_items(attributes: Any) -> List[AttributeTuple]:
    if attributes is None:
        return []
    if not isinstance(attributes, Mapping):
        raise TypeError(f"attributes must be a dict or None, not {type(attributes).__name__}")
    items: List[AttributeTuple] = []
    for key, value in attributes.items():
        if not isinstance(key, str):
            raise TypeError(f"an attribute key must be a str, not {type(key).__name__}")
        c_key = _c_string("attribute key", key)
        # bool before int: a bool is an int in Python.
        if isinstance(value, bool):
            items.append((c_key, _ATTRIBUTE_BOOL, None, int(value), 0.0))
        elif isinstance(value, int):
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise InvalidArgumentError(Status.ERR_INVALID_ARGUMENT, f"attribute {key!r} does not fit in 64 bits")
            items.append((c_key, _ATTRIBUTE_INT, None, value, 0.0))
        elif isinstance(value, float):
            items.append((c_key, _ATTRIBUTE_DOUBLE, None, 0, value))
        elif isinstance(value, str):
            items.append((c_key, _ATTRIBUTE_STRING, _c_string("attribute value", value), 0, 0.0))
        else:
            raise TypeError(
                f"attribute {key!r} must be a str, bool, int or float, not {type(value).__name__}"
            )
    return items


def _number_type(number: Any) -> int:
    if number is int:
        return _NUMBER_INT64
    if number is float:
        return _NUMBER_DOUBLE
    raise TypeError(f"number must be int or float, not {number!r}")


def _value(number: int, value: Any) -> Union[int, float]:
    """``value`` as the instrument's number type takes it."""
    if isinstance(value, bool):
        raise TypeError("a measurement must be an int or a float, not bool")
    if number == _NUMBER_INT64:
        if not isinstance(value, int):
            raise TypeError(f"this instrument records int, not {type(value).__name__}")
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidArgumentError(Status.ERR_INVALID_ARGUMENT, f"{value} does not fit in 64 bits")
        return value
    if not isinstance(value, (int, float)):
        raise TypeError(f"this instrument records float, not {type(value).__name__}")
    return float(value)


def _suffix(number: int) -> str:
    return "_i64" if number == _NUMBER_INT64 else "_f64"


class MeterProvider(_Configured):
    """A meter provider: meters, instruments and in-process aggregation, exporting
    through the library's exporter (every keyword argument of :class:`Exporter`), plus:

    - ``resource``: a dict of resource attributes (str, bool, int or float values).
    - ``export_interval_ms``: how often the provider's own thread collects and exports
      (0: no thread; collect with :meth:`collect` or :meth:`force_flush`).
    - ``cardinality_limit``: the most distinct attribute sets per instrument.
    - ``exporter_metrics``: record the exporter's own metrics
      (``otel.sdk.exporter.*``) and export them with the rest (default: off, or
      ``OTLPMETRIC_EXPORTER_METRICS=true``).

    A context manager: leaving the block shuts it down and frees it. Meters, instruments
    and observable callbacks live as long as the provider; a :class:`Bound` not closed
    before is freed with it. Calls are thread-safe.
    """

    _free_function = "otlpmetric_meter_provider_free"
    _what = "meter provider"

    def __init__(
        self,
        *,
        resource: Optional[Mapping[str, Any]] = None,
        export_interval_ms: Optional[int] = None,
        cardinality_limit: Optional[int] = None,
        exporter_metrics: Optional[bool] = None,
        **options: Any,
    ) -> None:
        self._provider_options = (resource, export_interval_ms, cardinality_limit, exporter_metrics)
        self._bounds: "weakref.WeakSet[Bound]" = weakref.WeakSet()
        super().__init__(**options)

    def _create(self, config: Any) -> Tuple[int, Any]:
        b = self._backend
        resource, export_interval_ms, cardinality_limit, exporter_metrics = self._provider_options
        if resource is not None:
            pointer, length, _keep = b.attributes(_attribute_items(resource))
            self._set(b.call("otlpmetric_config_set_resource", config, pointer, length))
        if export_interval_ms is not None:
            interval = _u32("export_interval_ms", export_interval_ms)
            self._set(b.call("otlpmetric_config_set_export_interval_ms", config, interval))
        if cardinality_limit is not None:
            limit = _u32("cardinality_limit", cardinality_limit)
            self._set(b.call("otlpmetric_config_set_cardinality_limit", config, limit))
        if exporter_metrics is not None:
            self._set(b.call("otlpmetric_config_set_exporter_metrics", config, bool(exporter_metrics)))
        return b.new_handle("otlpmetric_meter_provider_new", config)

    def meter(self, name: str, version: Optional[str] = None) -> "Meter":
        """The meter of the instrumentation scope ``name`` (and ``version``)."""
        c_name = _c_string("name", name)
        c_version = None if version is None else _c_string("version", version)
        with self._using() as handle:
            status, meter = self._backend.new_handle("otlpmetric_meter_provider_meter", handle, c_name, c_version)
            if status:
                raise self._error(status)
        return Meter(self, meter)

    def collect(self) -> bytes:
        """Collects every instrument now (running the observable callbacks on this thread)
        and returns, as the bytes of one ``opentelemetry.proto.metrics.v1.ResourceMetrics``,
        what an export would send (it counts as that export for delta temporality)."""
        with self._using() as handle:
            status, data = self._backend.collect(handle)
            if status:
                raise self._error(status)
        return data

    def force_flush(self, timeout_ms: int = 0) -> None:
        """Collects and exports now, waiting for the export (0: the configured timeout)."""
        timeout = _u32("timeout_ms", timeout_ms)
        with self._using() as handle:
            self._set(self._backend.call("otlpmetric_meter_provider_force_flush", handle, timeout))

    def shutdown(self, timeout_ms: int = 0) -> None:
        """Collects and exports a last time and stops; later calls raise ShutdownError."""
        timeout = _u32("timeout_ms", timeout_ms)
        with self._using() as handle:
            self._set(self._backend.call("otlpmetric_meter_provider_shutdown", handle, timeout))

    def stats(self) -> Stats:
        """The export statistics (works after shutdown, not after close)."""
        with self._using() as handle:
            status, values = self._backend.stats(handle, "otlpmetric_meter_provider_stats")
            if status:
                raise self._error(status)
        assert values is not None
        return Stats(**dict(zip(STATS_FIELDS, values)))

    def close(self) -> None:
        """Frees the bound instruments, then the provider (shutting it down first if
        needed). Idempotent."""
        for bound in list(getattr(self, "_bounds", ())):
            bound.close()
        super().close()

    def __enter__(self) -> "MeterProvider":
        return self


class Meter:
    """One instrumentation scope of a :class:`MeterProvider`; makes its instruments."""

    def __init__(self, provider: MeterProvider, handle: Any) -> None:
        self._provider = provider
        self._handle = handle

    def _make(
        self, kind: InstrumentKind, name: str, unit: str, description: Optional[str], number: Any,
        callback: Optional[Callable[["Observer"], Any]] = None,
    ) -> "Instrument":
        number_type = _number_type(number)
        args = (
            _c_string("name", name),
            _c_string("unit", unit),
            None if description is None else _c_string("description", description),
        )
        provider = self._provider
        b = provider._backend
        with provider._using():
            if callback is None:
                status, handle = b.new_handle(
                    "otlpmetric_meter_instrument", self._handle, int(kind), number_type, *args
                )
            else:
                if not callable(callback):
                    raise TypeError(f"callback must be callable, not {type(callback).__name__}")
                cb = b.observe_callback(_safe_observe(callback, b, number_type))
                status, handle = b.new_handle(
                    "otlpmetric_meter_observable", self._handle, int(kind), number_type, *args, cb, None
                )
                if status == 0:
                    # Called until the provider is freed: kept (and freed) with it.
                    provider._keepalive.append(cb)
            if status:
                raise provider._error(status)
        return Instrument(provider, handle, kind, number_type, name)

    def counter(self, name: str, unit: str = "", description: Optional[str] = None, number: Any = int) -> "Instrument":
        """A monotonic sum: :meth:`Instrument.add` non-negative values."""
        return self._make(InstrumentKind.COUNTER, name, unit, description, number)

    def up_down_counter(
        self, name: str, unit: str = "", description: Optional[str] = None, number: Any = int
    ) -> "Instrument":
        """A sum that goes up and down: :meth:`Instrument.add` any value."""
        return self._make(InstrumentKind.UP_DOWN_COUNTER, name, unit, description, number)

    def histogram(self, name: str, unit: str = "", description: Optional[str] = None, number: Any = int) -> "Instrument":
        """A distribution: :meth:`Instrument.record` values."""
        return self._make(InstrumentKind.HISTOGRAM, name, unit, description, number)

    def gauge(self, name: str, unit: str = "", description: Optional[str] = None, number: Any = int) -> "Instrument":
        """The last value: :meth:`Instrument.record` values."""
        return self._make(InstrumentKind.GAUGE, name, unit, description, number)

    def observable_counter(
        self, name: str, callback: Callable[["Observer"], Any], unit: str = "",
        description: Optional[str] = None, number: Any = int,
    ) -> "Instrument":
        """A monotonic sum that ``callback(observer)`` observes (as totals) at each collection."""
        return self._make(InstrumentKind.OBSERVABLE_COUNTER, name, unit, description, number, callback)

    def observable_up_down_counter(
        self, name: str, callback: Callable[["Observer"], Any], unit: str = "",
        description: Optional[str] = None, number: Any = int,
    ) -> "Instrument":
        """A sum that ``callback(observer)`` observes (as totals) at each collection."""
        return self._make(InstrumentKind.OBSERVABLE_UP_DOWN_COUNTER, name, unit, description, number, callback)

    def observable_gauge(
        self, name: str, callback: Callable[["Observer"], Any], unit: str = "",
        description: Optional[str] = None, number: Any = int,
    ) -> "Instrument":
        """A value that ``callback(observer)`` observes at each collection."""
        return self._make(InstrumentKind.OBSERVABLE_GAUGE, name, unit, description, number, callback)


class Instrument:
    """An instrument of a :class:`MeterProvider`: ``add`` (counters), ``record``
    (histograms, gauges) or :meth:`bind`. Observable instruments take no calls."""

    def __init__(self, provider: MeterProvider, handle: Any, kind: InstrumentKind, number: int, name: str) -> None:
        self._provider = provider
        self._handle = handle
        self.kind = kind
        self.name = name
        self.number = int if number == _NUMBER_INT64 else float
        self._number = number

    def _measure(self, operation: str, value: Any, attributes: Any) -> None:
        v = _value(self._number, value)
        b = self._provider._backend
        pointer, length, _keep = b.attributes(_attribute_items(attributes))
        with self._provider._using():
            status = b.call(f"otlpmetric_instrument_{operation}{_suffix(self._number)}", self._handle, v, pointer, length)
            if status:
                raise self._provider._error(status)

    def add(self, value: Union[int, float], attributes: Optional[Mapping[str, Any]] = None) -> None:
        """Adds ``value`` (counters and up-down counters) for ``attributes``."""
        self._measure("add", value, attributes)

    def record(self, value: Union[int, float], attributes: Optional[Mapping[str, Any]] = None) -> None:
        """Records ``value`` (histograms and gauges) for ``attributes``."""
        self._measure("record", value, attributes)

    def bind(self, attributes: Optional[Mapping[str, Any]] = None) -> "Bound":
        """This instrument bound to ``attributes``: its calls do no attribute work."""
        provider = self._provider
        b = provider._backend
        pointer, length, _keep = b.attributes(_attribute_items(attributes))
        with provider._using():
            status, handle = b.new_handle("otlpmetric_instrument_bind", self._handle, pointer, length)
            if status:
                raise provider._error(status)
            bound = Bound(provider, handle, self._number)
            provider._bounds.add(bound)
        return bound

    def __repr__(self) -> str:
        return f"<otlpmetric.Instrument {self.kind.name} {self.name!r} ({self.number.__name__})>"


class Bound:
    """An instrument bound to one attribute set; :meth:`close` (or leaving a ``with``
    block) frees it. Freed with its provider otherwise."""

    def __init__(self, provider: MeterProvider, handle: Any, number: int) -> None:
        self._provider = provider
        self._handle = handle
        self._number = number
        self._lock = threading.Lock()

    def _measure(self, operation: str, value: Any) -> None:
        v = _value(self._number, value)
        provider = self._provider
        with provider._using():
            handle = self._handle
            if handle is None:
                raise InvalidArgumentError(Status.ERR_INVALID_ARGUMENT, "the bound instrument was closed")
            status = provider._backend.call(f"otlpmetric_bound_{operation}{_suffix(self._number)}", handle, v)
            if status:
                raise provider._error(status)

    def add(self, value: Union[int, float]) -> None:
        self._measure("add", value)

    def record(self, value: Union[int, float]) -> None:
        self._measure("record", value)

    def close(self) -> None:
        """Frees the bound instrument. Idempotent; nothing to do once the provider is closed."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            with self._provider._using():
                self._provider._backend.call("otlpmetric_bound_free", handle)
        except ShutdownError:
            pass  # the provider was freed, and the bound instrument with it
        self._provider._bounds.discard(self)

    def __enter__(self) -> "Bound":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - nothing to report to at this point
            pass


class Observer:
    """What an observable instrument's callback observes through; valid only during
    the callback."""

    def __init__(self, backend: Backend, handle: Any, number: int) -> None:
        self._backend = backend
        self._handle = handle
        self._number = number

    def observe(self, value: Union[int, float], attributes: Optional[Mapping[str, Any]] = None) -> None:
        """Observes ``value`` for ``attributes``."""
        if self._handle is None:
            raise InvalidArgumentError(Status.ERR_INVALID_ARGUMENT, "an observer is valid only during its callback")
        v = _value(self._number, value)
        b = self._backend
        pointer, length, _keep = b.attributes(_attribute_items(attributes))
        status = b.call(f"otlpmetric_observer_observe{_suffix(self._number)}", self._handle, v, pointer, length)
        if status:
            raise Error.from_status(status, b.last_error())


def _safe_observe(callback: Callable[[Observer], Any], backend: Backend, number: int) -> Callable[[Any], None]:
    def trampoline(handle: Any) -> None:
        observer = Observer(backend, handle, number)
        try:
            callback(observer)
        except BaseException:  # a callback must never let an exception reach C
            _report("observable callback")
        finally:
            observer._handle = None

    return trampoline


class Cancel:
    """A cancellation handle for :meth:`Exporter.upload` and :meth:`Exporter.force_flush`:
    :meth:`trigger` (from any thread, any number of times) makes the calls given it raise
    :class:`ExportCancelledError` promptly, now and later. :meth:`close` (or leaving a
    ``with`` block) frees it once no call uses it."""

    # Set by each front, as for Exporter.
    _load_backend: Callable[[], Backend]

    def __init__(self) -> None:
        self._handle: Any = None
        self._cond = threading.Condition()
        self._busy = 0
        b = self._backend = type(self)._load_backend()
        status, handle = b.cancel_new()
        if status:
            raise Error.from_status(status, b.last_error())
        self._handle = handle

    @contextmanager
    def _using(self) -> Iterator[Any]:
        with self._cond:
            if self._handle is None:
                raise InvalidArgumentError(Status.ERR_INVALID_ARGUMENT, "the Cancel was closed")
            self._busy += 1
        try:
            yield self._handle
        finally:
            with self._cond:
                self._busy -= 1
                if self._busy == 0:
                    self._cond.notify_all()

    def trigger(self) -> None:
        """Cancels the calls using this handle; later triggers (and after close) do nothing."""
        with self._cond:
            if self._handle is None:
                return
            self._busy += 1
        try:
            self._backend.call("otlpmetric_cancel_trigger", self._handle)
        finally:
            with self._cond:
                self._busy -= 1
                if self._busy == 0:
                    self._cond.notify_all()

    def close(self) -> None:
        """Frees the native handle; waits for calls using it. Idempotent."""
        cond = getattr(self, "_cond", None)
        if cond is None:  # __init__ failed early
            return
        with cond:
            handle, self._handle = self._handle, None
            while self._busy:
                cond.wait()
        if handle is not None:
            self._backend.call("otlpmetric_cancel_free", handle)

    def __enter__(self) -> "Cancel":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - nothing to report to at this point
            pass


def _free(backend: Backend, free_function: str, handle: Any, keepalive: List[Any]) -> None:
    backend.call(free_function, handle)
    # Only now that the library holds none of the callbacks may they go.
    keepalive.clear()


# -- selectors and callbacks ---------------------------------------------------------------


def _retry(retry: Any) -> Retry:
    if isinstance(retry, Retry):
        return retry
    if isinstance(retry, bool):
        return Retry() if retry else Retry(enabled=False, initial_ms=0, max_interval_ms=0, max_elapsed_ms=0)
    if isinstance(retry, Mapping):
        return replace(Retry(), **dict(retry))
    raise TypeError(f"retry must be a Retry, a dict or a bool, not {type(retry).__name__}")


def _aggregation_function(aggregation: Any) -> Callable[[Any, Aggregation], Optional[Aggregation]]:
    if isinstance(aggregation, Aggregation):
        return lambda kind, default: aggregation
    if isinstance(aggregation, Mapping):
        table = {int(k): v for k, v in aggregation.items()}
        return lambda kind, default: table.get(int(kind))
    if callable(aggregation):
        return aggregation
    raise TypeError(
        "aggregation must be an Aggregation, a dict or a callable, not " + type(aggregation).__name__
    )


def _aggregation_from_tuple(t: AggregationTuple) -> Aggregation:
    kind, boundaries, record_min_max, max_size, max_scale = t
    return Aggregation(kind, boundaries, record_min_max, max_size, max_scale)


def _aggregation_to_tuple(agg: Any) -> AggregationTuple:
    if not isinstance(agg, Aggregation):
        raise TypeError(f"an aggregation selector must return an Aggregation or None, not {type(agg).__name__}")
    if len(agg.boundaries) > MAX_BOUNDARIES:
        raise ValueError(f"at most {MAX_BOUNDARIES} boundaries")
    for name in ("kind", "max_size", "max_scale"):
        if not -(2**31) <= int(getattr(agg, name)) < 2**31:
            raise ValueError(f"Aggregation.{name} {getattr(agg, name)} is out of range")
    return (int(agg.kind), agg.boundaries, agg.record_min_max, int(agg.max_size), int(agg.max_scale))


def _safe_headers(produce: Callable[[], Any], backend: Backend) -> Callable[[Any], int]:
    """The header callback's body: adds what ``produce()`` returns to ``out``; any
    failure fails the attempt (non-zero) and is logged without a header value."""

    def trampoline(out: Any) -> int:
        try:
            pairs = produce()
            if pairs is None:
                return 0
            items = pairs.items() if isinstance(pairs, Mapping) else pairs
            for key, value in items:
                status = backend.call(
                    "otlpmetric_headers_add",
                    out,
                    _c_string("header name", key),
                    _c_string("header value", value),
                )
                if status:
                    logger.warning("otlpmetric: the header callback's header was refused: %s", backend.last_error())
                    return int(status)
            return 0
        except BaseException as e:
            # The exception's text may hold a header value: only its type is logged.
            try:
                logger.warning("otlpmetric: the Python header callback raised %s", type(e).__name__)
            except BaseException:
                pass
            return -1

    return trampoline


def _report(what: str) -> None:
    try:
        logger.error("otlpmetric: the Python %s raised", what, exc_info=True)
    except Exception:  # pragma: no cover - logging itself failed
        pass


def _safe_temporality(select: Callable[[int], Any], failures: List[BaseException]) -> Callable[[int], int]:
    def trampoline(kind: int) -> int:
        try:
            value = select(kind)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(
                    f"the temporality selector returned {value!r} for {_enum_or_int(InstrumentKind, kind)!r}; "
                    "a Temporality is needed"
                )
            value = int(value)
            # Out-of-int32 answers would be cut by the C type: make them invalid instead.
            return value if -(2**31) <= value < 2**31 else 0
        except BaseException as e:  # a callback must never let an exception reach C
            _report("temporality selector")
            failures.append(e)
            return 0  # no temporality: the library refuses it

    return trampoline


def _safe_aggregation(
    select: Callable[[Any, Aggregation], Any], failures: List[BaseException]
) -> Callable[[int, AggregationTuple], Optional[AggregationTuple]]:
    def trampoline(kind: int, default: AggregationTuple) -> Optional[AggregationTuple]:
        try:
            default_agg = _aggregation_from_tuple(default)
            answer = select(_enum_or_int(InstrumentKind, kind), default_agg)
            if isinstance(answer, int) and not isinstance(answer, bool):
                answer = replace(default_agg, kind=answer)  # a bare kind: the defaults for the rest
            return None if answer is None else _aggregation_to_tuple(answer)
        except BaseException as e:
            _report("aggregation selector")
            failures.append(e)
            return INVALID_AGGREGATION

    return trampoline


def _safe_log(log: Callable[[LogLevel, str], Any]) -> Callable[[int, str], None]:
    def trampoline(level: int, message: str) -> None:
        try:
            log(_enum_or_int(LogLevel, level), message)
        except BaseException:
            _report("log callback")

    return trampoline
