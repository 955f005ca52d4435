"""The ctypes backend: hand-written declarations of the C API, checked against the header."""

from __future__ import annotations

import ctypes
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_double,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _header, _loader
from ._core import AggregationTuple, Backend as _BackendBase
from ._types import C_ENUMS, SPOOL_STATS_FIELDS, STATS_FIELDS

__all__ = ["load", "Backend", "check_header", "FUNCTIONS", "OPTIONAL_FUNCTIONS"]

# C enums are int-sized (the contract: int32-sized); they are passed as int32.
c_enum = c_int32


class otlpmetric_aggregation(Structure):
    _fields_ = [
        ("kind", c_enum),
        ("boundaries", POINTER(c_double)),
        ("boundaries_len", c_size_t),
        ("record_min_max", c_bool),
        ("max_size", c_int32),
        ("max_scale", c_int32),
    ]


class otlpmetric_stats(Structure):
    _fields_ = [(name, c_uint64) for name in STATS_FIELDS]


class otlpmetric_spool_stats(Structure):
    _fields_ = [(name, c_uint64) for name in SPOOL_STATS_FIELDS]


class otlpmetric_attribute(Structure):
    _fields_ = [
        ("key", c_char_p),
        ("type", c_enum),
        ("string_value", c_char_p),
        ("int_value", c_int64),
        ("double_value", c_double),
    ]


class otlpmetric_buffer(Structure):
    # `data` as the other byte buffers (`uint8_t *`) are declared; read it with
    # ctypes.string_at(buffer.data, buffer.len) before otlpmetric_buffer_free.
    _fields_ = [("data", c_char_p), ("len", c_size_t)]


otlpmetric_temporality_selector = CFUNCTYPE(c_enum, c_void_p, c_enum)
otlpmetric_aggregation_selector = CFUNCTYPE(None, c_void_p, c_enum, POINTER(otlpmetric_aggregation))
otlpmetric_log_callback = CFUNCTYPE(None, c_void_p, c_enum, c_char_p)
otlpmetric_header_callback = CFUNCTYPE(c_int32, c_void_p, c_void_p)
otlpmetric_observe_callback = CFUNCTYPE(None, c_void_p, c_void_p)

_config = c_void_p
_exporter = c_void_p
_cancel = c_void_p
_headers = c_void_p
# The meter provider's handles (declared for completeness; the Python front end for the
# meter provider is not written yet).
_provider = c_void_p
_meter = c_void_p
_instrument = c_void_p
_bound = c_void_p
_observer = c_void_p
_attrs = POINTER(otlpmetric_attribute)
# Byte buffers are declared c_char_p: ctypes passes a bytes object's buffer as it is
# (embedded NULs and all; the length travels separately).
_buffer = c_char_p

#: name -> (restype, argtypes)
FUNCTIONS: Dict[str, Tuple[Any, List[Any]]] = {
    "otlpmetric_status_str": (c_char_p, [c_enum]),
    "otlpmetric_last_error": (c_char_p, []),
    "otlpmetric_version": (c_char_p, []),
    "otlpmetric_config_new": (_config, []),
    "otlpmetric_config_free": (None, [_config]),
    "otlpmetric_config_set_endpoint": (c_enum, [_config, c_char_p]),
    "otlpmetric_config_set_protocol": (c_enum, [_config, c_enum]),
    "otlpmetric_config_add_header": (c_enum, [_config, c_char_p, c_char_p]),
    "otlpmetric_config_set_timeout_ms": (c_enum, [_config, c_uint32]),
    "otlpmetric_config_set_compression": (c_enum, [_config, c_enum]),
    "otlpmetric_config_set_tls": (c_enum, [_config, c_char_p, c_char_p, c_char_p]),
    "otlpmetric_config_set_insecure": (c_enum, [_config, c_bool]),
    "otlpmetric_config_set_proxy": (c_enum, [_config, c_char_p]),
    "otlpmetric_config_set_unix_socket": (c_enum, [_config, c_char_p]),
    "otlpmetric_config_set_retry": (c_enum, [_config, c_bool, c_uint32, c_uint32, c_uint32]),
    "otlpmetric_config_set_temporality_selector": (c_enum, [_config, otlpmetric_temporality_selector, c_void_p]),
    "otlpmetric_config_default_temporality": (c_enum, [_config, c_enum]),
    "otlpmetric_config_set_aggregation_selector": (c_enum, [_config, otlpmetric_aggregation_selector, c_void_p]),
    "otlpmetric_config_set_log_callback": (c_enum, [_config, otlpmetric_log_callback, c_void_p]),
    "otlpmetric_config_set_max_request_bytes": (c_enum, [_config, c_size_t]),
    "otlpmetric_config_set_queue": (c_enum, [_config, c_size_t]),
    "otlpmetric_exporter_new": (c_enum, [_config, POINTER(_exporter)]),
    "otlpmetric_exporter_upload": (c_enum, [_exporter, _buffer, c_size_t, c_uint32]),
    "otlpmetric_exporter_upload_request": (c_enum, [_exporter, _buffer, c_size_t, c_uint32]),
    "otlpmetric_exporter_upload_json": (c_enum, [_exporter, c_char_p, c_size_t, c_uint32]),
    "otlpmetric_exporter_force_flush": (c_enum, [_exporter, c_uint32]),
    "otlpmetric_exporter_shutdown": (c_enum, [_exporter, c_uint32]),
    "otlpmetric_exporter_free": (None, [_exporter]),
    "otlpmetric_exporter_temporality": (c_enum, [_exporter, c_enum]),
    "otlpmetric_exporter_aggregation": (c_enum, [_exporter, c_enum, POINTER(otlpmetric_aggregation)]),
    "otlpmetric_exporter_stats": (c_enum, [_exporter, POINTER(otlpmetric_stats)]),
    "otlpmetric_exporter_enqueue": (c_enum, [_exporter, _buffer, c_size_t]),
    "otlpmetric_cancel_new": (c_enum, [POINTER(_cancel)]),
    "otlpmetric_cancel_trigger": (None, [_cancel]),
    "otlpmetric_cancel_free": (None, [_cancel]),
    "otlpmetric_exporter_upload_cancellable": (c_enum, [_exporter, _buffer, c_size_t, c_uint32, _cancel]),
    "otlpmetric_exporter_force_flush_cancellable": (c_enum, [_exporter, c_uint32, _cancel]),
    "otlpmetric_config_set_header_callback": (c_enum, [_config, otlpmetric_header_callback, c_void_p]),
    "otlpmetric_headers_add": (c_enum, [_headers, c_char_p, c_char_p]),
    "otlpmetric_config_set_max_response_bytes": (c_enum, [_config, c_size_t]),
    "otlpmetric_config_set_spool": (c_enum, [_config, c_char_p, c_size_t]),
    "otlpmetric_config_set_spool_durability": (c_enum, [_config, c_enum, c_uint32]),
    "otlpmetric_config_set_spool_full_policy": (c_enum, [_config, c_enum]),
    "otlpmetric_exporter_spool_stats": (c_enum, [_exporter, POINTER(otlpmetric_spool_stats)]),
    "otlpmetric_config_set_resource": (c_enum, [_config, _attrs, c_size_t]),
    "otlpmetric_config_set_export_interval_ms": (c_enum, [_config, c_uint32]),
    "otlpmetric_config_set_cardinality_limit": (c_enum, [_config, c_uint32]),
    "otlpmetric_config_set_exporter_metrics": (c_enum, [_config, c_bool]),
    "otlpmetric_meter_provider_new": (c_enum, [_config, POINTER(_provider)]),
    "otlpmetric_meter_provider_meter": (c_enum, [_provider, c_char_p, c_char_p, POINTER(_meter)]),
    "otlpmetric_meter_instrument": (
        c_enum,
        [_meter, c_enum, c_enum, c_char_p, c_char_p, c_char_p, POINTER(_instrument)],
    ),
    "otlpmetric_meter_observable": (
        c_enum,
        [_meter, c_enum, c_enum, c_char_p, c_char_p, c_char_p, otlpmetric_observe_callback, c_void_p, POINTER(_instrument)],
    ),
    "otlpmetric_instrument_add_i64": (c_enum, [_instrument, c_int64, _attrs, c_size_t]),
    "otlpmetric_instrument_add_f64": (c_enum, [_instrument, c_double, _attrs, c_size_t]),
    "otlpmetric_instrument_record_i64": (c_enum, [_instrument, c_int64, _attrs, c_size_t]),
    "otlpmetric_instrument_record_f64": (c_enum, [_instrument, c_double, _attrs, c_size_t]),
    "otlpmetric_instrument_bind": (c_enum, [_instrument, _attrs, c_size_t, POINTER(_bound)]),
    "otlpmetric_bound_add_i64": (c_enum, [_bound, c_int64]),
    "otlpmetric_bound_add_f64": (c_enum, [_bound, c_double]),
    "otlpmetric_bound_record_i64": (c_enum, [_bound, c_int64]),
    "otlpmetric_bound_record_f64": (c_enum, [_bound, c_double]),
    "otlpmetric_bound_free": (None, [_bound]),
    "otlpmetric_observer_observe_i64": (c_enum, [_observer, c_int64, _attrs, c_size_t]),
    "otlpmetric_observer_observe_f64": (c_enum, [_observer, c_double, _attrs, c_size_t]),
    "otlpmetric_meter_provider_collect": (c_enum, [_provider, POINTER(otlpmetric_buffer)]),
    "otlpmetric_buffer_free": (None, [POINTER(otlpmetric_buffer)]),
    "otlpmetric_meter_provider_force_flush": (c_enum, [_provider, c_uint32]),
    "otlpmetric_meter_provider_shutdown": (c_enum, [_provider, c_uint32]),
    "otlpmetric_meter_provider_stats": (c_enum, [_provider, POINTER(otlpmetric_stats)]),
    "otlpmetric_meter_provider_free": (None, [_provider]),
}

#: In the contract but maybe not yet in the library: bound when first called.
OPTIONAL_FUNCTIONS = frozenset(
    {
        "otlpmetric_exporter_enqueue",
        "otlpmetric_cancel_new",
        "otlpmetric_cancel_trigger",
        "otlpmetric_cancel_free",
        "otlpmetric_exporter_upload_cancellable",
        "otlpmetric_exporter_force_flush_cancellable",
        "otlpmetric_config_set_header_callback",
        "otlpmetric_headers_add",
        "otlpmetric_config_set_max_response_bytes",
    }
)

_STRUCTS = {
    "otlpmetric_aggregation": otlpmetric_aggregation,
    "otlpmetric_stats": otlpmetric_stats,
    "otlpmetric_spool_stats": otlpmetric_spool_stats,
    "otlpmetric_attribute": otlpmetric_attribute,
    "otlpmetric_buffer": otlpmetric_buffer,
}
_CALLBACKS = {
    "otlpmetric_temporality_selector": otlpmetric_temporality_selector,
    "otlpmetric_aggregation_selector": otlpmetric_aggregation_selector,
    "otlpmetric_log_callback": otlpmetric_log_callback,
    "otlpmetric_header_callback": otlpmetric_header_callback,
    "otlpmetric_observe_callback": otlpmetric_observe_callback,
}


def _c_types() -> Dict[str, Any]:
    """Normalized C type name (see ``_header.normalize_type``) -> the ctypes type used for it."""
    types: Dict[str, Any] = {
        "void": None,
        "void *": c_void_p,
        "bool": c_bool,
        "uint32_t": c_uint32,
        "int32_t": c_int32,
        "uint64_t": c_uint64,
        "size_t": c_size_t,
        "double *": POINTER(c_double),
        "char *": c_char_p,
        "uint8_t *": _buffer,
        "otlpmetric_config *": _config,
        "otlpmetric_exporter *": _exporter,
        "otlpmetric_exporter **": POINTER(_exporter),
        "otlpmetric_cancel *": _cancel,
        "otlpmetric_cancel **": POINTER(_cancel),
        "otlpmetric_headers *": _headers,
        "int64_t": c_int64,
        "double": c_double,
        "otlpmetric_number_type": c_enum,
        "otlpmetric_attribute_type": c_enum,
        "otlpmetric_meter_provider *": _provider,
        "otlpmetric_meter_provider **": POINTER(_provider),
        "otlpmetric_meter *": _meter,
        "otlpmetric_meter **": POINTER(_meter),
        "otlpmetric_instrument *": _instrument,
        "otlpmetric_instrument **": POINTER(_instrument),
        "otlpmetric_bound_instrument *": _bound,
        "otlpmetric_bound_instrument **": POINTER(_bound),
        "otlpmetric_observer *": _observer,
    }
    for enum_name, _prefix in C_ENUMS.values():
        types[enum_name] = c_enum
    for name, struct in _STRUCTS.items():
        types[name + " *"] = POINTER(struct)
    types.update(_CALLBACKS)
    return types


def _tname(t: Any) -> str:
    return "void" if t is None else getattr(t, "__name__", repr(t))


def check_header(header_text: str, *, complete: bool = False) -> List[str]:
    """Differences between these ctypes declarations and the header: missing functions,
    argument counts and types, return types, callback signatures, struct fields, enum
    values. With ``complete``, header functions that ctypes does not declare count too."""
    info = _header.parse(header_text)
    types = _c_types()
    problems: List[str] = []

    def expect(where: str, c_type: str, declared: Any) -> None:
        if c_type not in types:
            problems.append(f"{where}: C type {c_type!r} has no ctypes mapping")
        elif types[c_type] is not declared:
            problems.append(f"{where}: header has {c_type!r}, ctypes declares {_tname(declared)}")

    for name, (restype, argtypes) in FUNCTIONS.items():
        if name not in info.functions:
            if name not in OPTIONAL_FUNCTIONS:
                problems.append(f"{name}: declared for ctypes but not in the header")
            continue
        c_ret, c_args = info.functions[name]
        if len(c_args) != len(argtypes):
            problems.append(f"{name}: header has {len(c_args)} arguments, ctypes declares {len(argtypes)}")
            continue
        expect(f"{name} result", c_ret, restype)
        for i, (c_arg, declared) in enumerate(zip(c_args, argtypes)):
            expect(f"{name} argument {i + 1}", c_arg, declared)
    if complete:
        for name in info.functions:
            if name not in FUNCTIONS:
                problems.append(f"{name}: in the header but not declared for ctypes")

    for name, cb in _CALLBACKS.items():
        if name not in info.callbacks:
            problems.append(f"{name}: callback type not in the header")
            continue
        c_ret, c_args = info.callbacks[name]
        if len(c_args) != len(cb._argtypes_):
            problems.append(f"{name}: header has {len(c_args)} parameters, ctypes declares {len(cb._argtypes_)}")
            continue
        expect(f"{name} result", c_ret, cb._restype_)
        for i, (c_arg, declared) in enumerate(zip(c_args, cb._argtypes_)):
            expect(f"{name} parameter {i + 1}", c_arg, declared)

    for name, struct in _STRUCTS.items():
        c_fields = info.structs.get(name)
        if c_fields is None:
            problems.append(f"struct {name}: not in the header")
            continue
        py_fields = [(f[0], f[1]) for f in struct._fields_]
        if [f for f, _ in c_fields] != [f for f, _ in py_fields]:
            problems.append(f"struct {name}: header fields {[f for f, _ in c_fields]}, ctypes {[f for f, _ in py_fields]}")
            continue
        for (field, c_type), (_, declared) in zip(c_fields, py_fields):
            expect(f"struct {name}.{field}", c_type, declared)

    for py_enum, (c_name, prefix) in C_ENUMS.items():
        c_members = info.enums.get(c_name)
        if c_members is None:
            problems.append(f"enum {c_name}: not in the header")
            continue
        py_members = {prefix + m.name: int(m) for m in py_enum}
        if c_members != py_members:
            problems.append(f"enum {c_name}: header {sorted(c_members.items())}, Python {sorted(py_members.items())}")
    return problems


class Backend(_BackendBase):
    name = "ctypes"

    def __init__(self, path: str) -> None:
        self.path = path
        self.lib = ctypes.CDLL(path)
        self._functions: Dict[str, Any] = {}
        for name in FUNCTIONS:
            if name not in OPTIONAL_FUNCTIONS:
                self._bind(name)

    def _bind(self, name: str) -> Any:
        fn = self._functions.get(name)
        if fn is None:
            fn = getattr(self.lib, name)  # AttributeError when the library lacks it
            fn.restype, fn.argtypes = FUNCTIONS[name]
            self._functions[name] = fn
        return fn

    def has(self, function: str) -> bool:
        try:
            self._bind(function)
            return True
        except AttributeError:
            return False

    def last_error(self) -> str:
        return (self._functions["otlpmetric_last_error"]() or b"").decode("utf-8", "replace")

    def status_str(self, status: int) -> str:
        return self._functions["otlpmetric_status_str"](status).decode("utf-8", "replace")

    def version(self) -> str:
        return self._functions["otlpmetric_version"]().decode("utf-8", "replace")

    def call(self, function: str, *args: Any) -> int:
        return self._bind(function)(*args)

    def config_new(self) -> Any:
        return self._functions["otlpmetric_config_new"]()  # None for NULL

    def config_free(self, config: Any) -> None:
        self._functions["otlpmetric_config_free"](config)

    def exporter_new(self, config: Any) -> Tuple[int, Any]:
        out = c_void_p()
        status = self._functions["otlpmetric_exporter_new"](config, ctypes.byref(out))
        return status, out.value

    def exporter_free(self, exporter: Any) -> None:
        self._functions["otlpmetric_exporter_free"](exporter)

    def cancel_new(self) -> Tuple[int, Any]:
        out = c_void_p()
        status = self._bind("otlpmetric_cancel_new")(ctypes.byref(out))
        return status, out.value

    def send(self, function: str, exporter: Any, data: bytes, *rest: Any) -> int:
        return self._bind(function)(exporter, data, len(data), *rest)

    def aggregation(self, exporter: Any, kind: int) -> Tuple[int, Optional[AggregationTuple]]:
        out = otlpmetric_aggregation()
        status = self._functions["otlpmetric_exporter_aggregation"](exporter, kind, ctypes.byref(out))
        return status, (_read_aggregation(out) if status == 0 else None)

    def stats(self, exporter: Any, function: str = "otlpmetric_exporter_stats") -> Tuple[int, Optional[Tuple[int, ...]]]:
        out = otlpmetric_stats()
        status = self._bind(function)(exporter, ctypes.byref(out))
        return status, (tuple(getattr(out, f) for f in STATS_FIELDS) if status == 0 else None)

    def new_handle(self, function: str, *args: Any) -> Tuple[int, Any]:
        out = c_void_p()
        status = self._bind(function)(*args, ctypes.byref(out))
        return status, (out.value if status == 0 else None)

    def attributes(self, items: List[Any]) -> Tuple[Any, int, Any]:
        if not items:
            return None, 0, None
        array = (otlpmetric_attribute * len(items))()
        for attr, (key, a_type, string_value, int_value, double_value) in zip(array, items):
            # The structure keeps the bytes it is given alive (in its _objects).
            attr.key = key
            attr.type = a_type
            attr.string_value = string_value
            attr.int_value = int_value
            attr.double_value = double_value
        return array, len(items), None

    def collect(self, provider: Any) -> Tuple[int, bytes]:
        buffer = otlpmetric_buffer()
        status = self._bind("otlpmetric_meter_provider_collect")(provider, ctypes.byref(buffer))
        try:
            # The data pointer itself (reading the c_char_p field would stop at a NUL byte).
            data_ptr = ctypes.cast(ctypes.byref(buffer), POINTER(c_void_p))[0]
            data = ctypes.string_at(data_ptr, buffer.len) if data_ptr and buffer.len else b""
        finally:
            self._bind("otlpmetric_buffer_free")(ctypes.byref(buffer))
        return status, data

    def observe_callback(self, observe: Callable[[Any], None]) -> Any:
        def c_observe(_user_data: Any, observer: Any) -> None:
            try:
                observe(observer)
            except BaseException:  # observe never raises; this is the last line of defence
                pass

        return otlpmetric_observe_callback(c_observe)

    def temporality_selector(self, select: Callable[[int], int]) -> Any:
        def c_select(_user_data: Any, kind: int) -> int:
            try:
                return select(kind)
            except BaseException:  # select never raises; this is the last line of defence
                return 0

        return otlpmetric_temporality_selector(c_select)

    def aggregation_selector(
        self, select: Callable[[int, AggregationTuple], Optional[AggregationTuple]], keep: List[Any]
    ) -> Any:
        def c_select(_user_data: Any, kind: int, out: Any) -> None:
            try:
                answer = select(kind, _read_aggregation(out[0]))
                if answer is None:
                    return
                a_kind, boundaries, record_min_max, max_size, max_scale = answer
                agg = out[0]
                if boundaries:
                    array = (c_double * len(boundaries))(*boundaries)
                    keep.append(array)  # must outlive otlpmetric_exporter_new
                    agg.boundaries = ctypes.cast(array, POINTER(c_double))
                else:
                    agg.boundaries = None
                agg.boundaries_len = len(boundaries)
                agg.record_min_max = record_min_max
                agg.max_size = max_size
                agg.max_scale = max_scale
                agg.kind = a_kind
            except BaseException:
                try:
                    out[0].kind = 0  # refused by the library: creation fails
                except BaseException:
                    pass

        return otlpmetric_aggregation_selector(c_select)

    def log_callback(self, log: Callable[[int, str], None]) -> Any:
        def c_log(_user_data: Any, level: int, message: Optional[bytes]) -> None:
            try:
                log(level, (message or b"").decode("utf-8", "replace"))
            except BaseException:
                pass

        return otlpmetric_log_callback(c_log)

    def header_callback(self, produce: Callable[[Any], int]) -> Any:
        def c_headers(_user_data: Any, out: Any) -> int:
            try:
                return produce(out)
            except BaseException:
                return -1

        return otlpmetric_header_callback(c_headers)


def _read_aggregation(agg: otlpmetric_aggregation) -> AggregationTuple:
    n = agg.boundaries_len if agg.boundaries else 0
    boundaries = tuple(agg.boundaries[:n]) if n else ()
    return (agg.kind, boundaries, bool(agg.record_min_max), agg.max_size, agg.max_scale)


_lock = threading.Lock()
_backend: Optional[Backend] = None


def load() -> Backend:
    """The process-wide ctypes backend, loading the library on first use. When a header
    can be found, the declarations are checked against it first."""
    global _backend
    with _lock:
        if _backend is None:
            path = _loader.find_library()
            try:
                header = _loader.find_header()
            except OSError:
                header = None  # nothing to check against (an installed library alone)
            if header is not None:
                problems = check_header(header.read_text(encoding="utf-8"))
                if problems:
                    raise ImportError(
                        f"the otlpmetric ctypes declarations disagree with {header}: " + "; ".join(problems)
                    )
            try:
                _backend = Backend(path)
            except OSError as e:
                raise OSError(f"cannot load the otlpmetric library {path}: {e}") from e
            except AttributeError as e:
                raise OSError(f"{path} is not a usable otlpmetric library: missing symbol {e}") from e
        return _backend
