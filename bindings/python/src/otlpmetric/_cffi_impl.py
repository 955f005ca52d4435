"""The cffi backend (ABI mode): declarations come from the generated header itself."""

from __future__ import annotations

import threading
from typing import Any, Callable, List, Optional, Tuple

from . import _header, _loader
from ._core import AggregationTuple, Backend as _BackendBase
from ._types import STATS_FIELDS

__all__ = ["load", "Backend"]


class Backend(_BackendBase):
    name = "cffi"

    def __init__(self, path: str, header_path: str, header_text: str) -> None:
        import cffi  # the package, not this module

        self.path = path
        self.header_path = header_path
        self.ffi = ffi = cffi.FFI()
        ffi.cdef(_header.cdef_source(header_text))
        self.lib = ffi.dlopen(path)
        self._NULL = ffi.NULL
        self._buffer_types: dict = {}
        # The library refuses a NULL buffer even with length 0, so empty data is passed
        # as a pointer to this (unread) byte.
        self._no_bytes = ffi.new("uint8_t[1]")

    def has(self, function: str) -> bool:
        try:
            getattr(self.lib, function)
            return True
        except (AttributeError, NotImplementedError):
            return False

    def _string(self, ptr: Any) -> str:
        if ptr == self._NULL:
            return ""
        return self.ffi.string(ptr).decode("utf-8", "replace")

    def last_error(self) -> str:
        return self._string(self.lib.otlpmetric_last_error())

    def status_str(self, status: int) -> str:
        return self._string(self.lib.otlpmetric_status_str(status))

    def version(self) -> str:
        return self._string(self.lib.otlpmetric_version())

    def call(self, function: str, *args: Any) -> int:
        return getattr(self.lib, function)(*[self._NULL if a is None else a for a in args])

    def config_new(self) -> Any:
        config = self.lib.otlpmetric_config_new()
        return None if config == self._NULL else config

    def config_free(self, config: Any) -> None:
        self.lib.otlpmetric_config_free(config)

    def exporter_new(self, config: Any) -> Tuple[int, Any]:
        out = self.ffi.new("otlpmetric_exporter **")
        status = self.lib.otlpmetric_exporter_new(config, out)
        return status, (out[0] if status == 0 else None)

    def exporter_free(self, exporter: Any) -> None:
        self.lib.otlpmetric_exporter_free(exporter)

    def cancel_new(self) -> Tuple[int, Any]:
        out = self.ffi.new("otlpmetric_cancel **")
        status = self.lib.otlpmetric_cancel_new(out)
        return status, (out[0] if status == 0 else None)

    def send(self, function: str, exporter: Any, data: bytes, *rest: Any) -> int:
        fn = getattr(self.lib, function)
        param_type = self._buffer_types.get(function)
        if param_type is None:  # the parameter's type: uint8_t * or char *
            param_type = self._buffer_types[function] = self.ffi.typeof(fn).args[1]
        if data:
            # A zero-copy view of the bytes, only read during the call.
            buffer = self.ffi.from_buffer(param_type.item.cname + "[]", data)
        else:
            buffer = self.ffi.cast(param_type, self._no_bytes)
        return fn(exporter, buffer, len(data), *[self._NULL if a is None else a for a in rest])

    def aggregation(self, exporter: Any, kind: int) -> Tuple[int, Optional[AggregationTuple]]:
        out = self.ffi.new("otlpmetric_aggregation *")
        status = self.lib.otlpmetric_exporter_aggregation(exporter, kind, out)
        return status, (self._read_aggregation(out) if status == 0 else None)

    def stats(self, exporter: Any, function: str = "otlpmetric_exporter_stats") -> Tuple[int, Optional[Tuple[int, ...]]]:
        out = self.ffi.new("otlpmetric_stats *")
        status = getattr(self.lib, function)(exporter, out)
        return status, (tuple(getattr(out, f) for f in STATS_FIELDS) if status == 0 else None)

    def new_handle(self, function: str, *args: Any) -> Tuple[int, Any]:
        fn = getattr(self.lib, function)
        out = self.ffi.new(self.ffi.typeof(fn).args[-1])
        status = fn(*[self._NULL if a is None else a for a in args], out)
        return status, (out[0] if status == 0 else None)

    def attributes(self, items: List[Any]) -> Tuple[Any, int, Any]:
        if not items:
            return self._NULL, 0, None
        ffi = self.ffi
        array = ffi.new("otlpmetric_attribute[]", len(items))
        keep = [array]  # the strings must live as long as the array is passed
        for i, (key, a_type, string_value, int_value, double_value) in enumerate(items):
            attr = array[i]
            key_c = ffi.new("char[]", key)
            keep.append(key_c)
            attr.key = key_c
            attr.type = a_type
            if string_value is not None:
                value_c = ffi.new("char[]", string_value)
                keep.append(value_c)
                attr.string_value = value_c
            attr.int_value = int_value
            attr.double_value = double_value
        return array, len(items), keep

    def collect(self, provider: Any) -> Tuple[int, bytes]:
        buffer = self.ffi.new("otlpmetric_buffer *")
        status = self.lib.otlpmetric_meter_provider_collect(provider, buffer)
        try:
            data = self.ffi.buffer(buffer.data, buffer.len)[:] if buffer.data != self._NULL and buffer.len else b""
        finally:
            self.lib.otlpmetric_buffer_free(buffer)
        return status, data

    def observe_callback(self, observe: Callable[[Any], None]) -> Any:
        def c_observe(_user_data: Any, observer: Any) -> None:
            observe(observer)

        return self.ffi.callback("otlpmetric_observe_callback", c_observe, onerror=_ignore)

    def _read_aggregation(self, agg: Any) -> AggregationTuple:
        n = agg.boundaries_len if agg.boundaries != self._NULL else 0
        boundaries = tuple(self.ffi.unpack(agg.boundaries, n)) if n else ()
        return (int(agg.kind), boundaries, bool(agg.record_min_max), agg.max_size, agg.max_scale)

    def temporality_selector(self, select: Callable[[int], int]) -> Any:
        def c_select(_user_data: Any, kind: int) -> int:
            return select(kind)

        # error=0: should anything still escape, the answer is "no temporality" (refused).
        return self.ffi.callback("otlpmetric_temporality_selector", c_select, error=0, onerror=_ignore)

    def aggregation_selector(
        self, select: Callable[[int, AggregationTuple], Optional[AggregationTuple]], keep: List[Any]
    ) -> Any:
        ffi = self.ffi

        def c_select(_user_data: Any, kind: int, out: Any) -> None:
            try:
                answer = select(kind, self._read_aggregation(out))
                if answer is None:
                    return
                a_kind, boundaries, record_min_max, max_size, max_scale = answer
                if boundaries:
                    array = ffi.new("double[]", list(boundaries))
                    keep.append(array)  # must outlive otlpmetric_exporter_new
                    out.boundaries = array
                else:
                    out.boundaries = ffi.NULL
                out.boundaries_len = len(boundaries)
                out.record_min_max = record_min_max
                out.max_size = max_size
                out.max_scale = max_scale
                out.kind = a_kind
            except BaseException:
                try:
                    out.kind = 0  # refused by the library: creation fails
                except BaseException:
                    pass

        return ffi.callback("otlpmetric_aggregation_selector", c_select, onerror=_ignore)

    def log_callback(self, log: Callable[[int, str], None]) -> Any:
        ffi = self.ffi

        def c_log(_user_data: Any, level: int, message: Any) -> None:
            log(level, "" if message == ffi.NULL else ffi.string(message).decode("utf-8", "replace"))

        return ffi.callback("otlpmetric_log_callback", c_log, onerror=_ignore)

    def header_callback(self, produce: Callable[[Any], int]) -> Any:
        def c_headers(_user_data: Any, out: Any) -> int:
            return produce(out)

        # error=-1: should anything still escape, the attempt fails.
        return self.ffi.callback("otlpmetric_header_callback", c_headers, error=-1, onerror=_ignore)


def _ignore(exc_type: Any, exc: Any, tb: Any) -> None:
    """cffi's onerror: the Python side already reported it; never print, never raise."""
    return None


_lock = threading.Lock()
_backend: Optional[Backend] = None


def load() -> Backend:
    """The process-wide cffi backend: finds the library and the header, ``cdef``s the
    header, ``dlopen``s the library (on first use)."""
    global _backend
    with _lock:
        if _backend is None:
            try:
                import cffi  # noqa: F401
            except ImportError as e:
                raise ImportError("otlpmetric.cffi needs the cffi package: pip install cffi") from e
            path = _loader.find_library()
            header = _loader.find_header()
            try:
                _backend = Backend(path, str(header), header.read_text(encoding="utf-8"))
            except OSError as e:
                raise OSError(f"cannot load the otlpmetric library {path}: {e}") from e
        return _backend
