"""The Python declarations against the generated header, and how the library and the
header are found."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import otlpmetric
from otlpmetric import _ctypes_impl, _header, _loader
from otlpmetric._types import C_ENUMS

from conftest import REPO, repo_header

INCLUDE = REPO / "include" / "otlpmetric.h"


def header_text() -> str:
    return repo_header().read_text(encoding="utf-8")


def test_the_build_put_the_header_and_the_library_into_the_package() -> None:
    packaged = _loader.packaged_header()
    assert packaged.is_file(), f"{packaged} is missing from the installed package"
    assert packaged.read_bytes() == INCLUDE.read_bytes(), f"{packaged} is not the header of the checkout it was built from"
    assert (packaged.parent / _loader.library_file_name()).is_file()


def test_ctypes_declarations_agree_with_header() -> None:
    problems = _ctypes_impl.check_header(header_text(), complete=True)
    assert problems == []


def test_every_header_function_is_bound() -> None:
    info = _header.parse(header_text())
    assert set(info.functions) - set(_ctypes_impl.FUNCTIONS) == set()
    assert len(info.functions) >= 28


def test_check_header_finds_mismatches() -> None:
    text = header_text()
    doctored = text.replace(
        "otlpmetric_config_set_timeout_ms(struct otlpmetric_config *config, uint32_t timeout_ms);",
        "otlpmetric_config_set_timeout_ms(struct otlpmetric_config *config, uint64_t timeout_ms, bool x);",
    )
    doctored = doctored.replace("OTLPMETRIC_ERR_EXPORT = 5", "OTLPMETRIC_ERR_EXPORT = 50")
    doctored = doctored.replace("  uint64_t retries;", "  uint32_t retries;")
    doctored = doctored.replace("const char *otlpmetric_version(void);", "")
    assert doctored != text
    problems = "\n".join(_ctypes_impl.check_header(doctored))
    assert "otlpmetric_config_set_timeout_ms: header has 3 arguments" in problems
    assert "enum otlpmetric_status" in problems
    assert "otlpmetric_stats.retries" in problems
    assert "otlpmetric_version: declared for ctypes but not in the header" in problems


def test_enqueue_may_be_missing_from_the_header() -> None:
    text = header_text()
    info = _header.parse(text)
    if "otlpmetric_exporter_enqueue" in info.functions:
        assert info.functions["otlpmetric_exporter_enqueue"][1] == [
            "otlpmetric_exporter *",
            "uint8_t *",
            "size_t",
        ]
    else:
        assert _ctypes_impl.check_header(text) == []


def test_cdef_source_is_the_header_minus_preprocessor_and_wrapper() -> None:
    text = header_text()
    cdef = _header.cdef_source(text)
    lines = cdef.splitlines()
    assert not [line for line in lines if line.lstrip().startswith("#")]
    assert 'extern "C"' not in "".join(line for line in lines if not line.lstrip().startswith("//"))
    # Nothing else is touched: the remaining lines are the header's, in order.
    kept = iter(text.splitlines())
    for line in lines:
        for candidate in kept:
            if candidate == line:
                break
        else:
            pytest.fail(f"line not from the header: {line!r}")


def test_cffi_reads_the_header() -> None:
    cffi = pytest.importorskip("cffi")
    ffi = cffi.FFI()
    ffi.cdef(_header.cdef_source(header_text()))
    lib = ffi.dlopen(otlpmetric.library_path())
    for py_enum, (c_name, prefix) in C_ENUMS.items():
        for member in py_enum:
            assert getattr(lib, prefix + member.name) == member, (c_name, member)
    assert ffi.sizeof("otlpmetric_stats") == 7 * 8
    assert ffi.sizeof("otlpmetric_aggregation") == __import__("ctypes").sizeof(_ctypes_impl.otlpmetric_aggregation)


def test_version_matches_header_defines() -> None:
    defines = _header.parse(header_text()).defines
    expected = "{}.{}.{}".format(
        defines["OTLPMETRIC_VERSION_MAJOR"], defines["OTLPMETRIC_VERSION_MINOR"], defines["OTLPMETRIC_VERSION_PATCH"]
    )
    assert otlpmetric.version().split("-")[0].split("+")[0] == expected


def test_cffi_front_uses_the_configured_header() -> None:
    import otlpmetric.cffi

    env = os.environ.get("OTLPMETRIC_HEADER")
    if env:
        assert Path(otlpmetric.cffi.header_path()) == Path(env)
    assert Path(otlpmetric.cffi.header_path()).is_file()


def test_library_not_found_names_what_was_tried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OTLPMETRIC_LIBRARY", str(tmp_path / "nope.so"))
    with pytest.raises(otlpmetric.LibraryNotFoundError, match="nope.so") as info:
        _loader.find_library()
    assert isinstance(info.value, OSError)
    monkeypatch.delenv("OTLPMETRIC_LIBRARY")
    monkeypatch.setattr(_loader.ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(_loader, "checkout_root", lambda: None)
    monkeypatch.setattr(_loader, "_PACKAGE_DIR", tmp_path)
    with pytest.raises(otlpmetric.LibraryNotFoundError) as info:
        _loader.find_library()
    message = str(info.value)
    assert "OTLPMETRIC_LIBRARY" in message
    assert str(tmp_path / _loader.library_file_name()) in message
    assert "find_library" in message


def test_header_not_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OTLPMETRIC_HEADER", str(tmp_path / "missing.h"))
    with pytest.raises(otlpmetric.LibraryNotFoundError, match="missing.h"):
        _loader.find_header()


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_import_never_loads_the_library(tmp_path: Path) -> None:
    result = _run(
        """
        import otlpmetric, otlpmetric.cffi
        try:
            otlpmetric.Exporter()
        except otlpmetric.LibraryNotFoundError as e:
            print("not found:", e)
        """,
        OTLPMETRIC_LIBRARY=str(tmp_path / "absent.so"),
    )
    assert result.returncode == 0, result.stderr
    assert "not found:" in result.stdout and "absent.so" in result.stdout


def test_ctypes_front_refuses_a_disagreeing_header(tmp_path: Path) -> None:
    doctored = header_text().replace(
        "otlpmetric_exporter_force_flush(struct otlpmetric_exporter *exporter, uint32_t timeout_ms);",
        "otlpmetric_exporter_force_flush(struct otlpmetric_exporter *exporter);",
    )
    path = tmp_path / "otlpmetric.h"
    path.write_text(doctored)
    result = _run(
        """
        import otlpmetric
        try:
            otlpmetric.Exporter()
        except ImportError as e:
            print("refused:", e)
        """,
        OTLPMETRIC_HEADER=str(path),
    )
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stdout and "otlpmetric_exporter_force_flush" in result.stdout


def test_checkout_builds_the_fresher_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    name = _loader.library_file_name()
    release, debug = tmp_path / "target" / "release" / name, tmp_path / "target" / "debug" / name
    monkeypatch.delenv("OTLPMETRIC_LIBRARY", raising=False)
    monkeypatch.setattr(_loader, "_PACKAGE_DIR", tmp_path / "pkg")
    monkeypatch.setattr(_loader, "checkout_root", lambda: tmp_path)
    debug.parent.mkdir(parents=True)
    debug.write_bytes(b"")
    assert _loader.find_library() == str(debug)
    release.parent.mkdir(parents=True)
    release.write_bytes(b"")
    os.utime(release, (1_000_000, 1_000_000))
    assert _loader.find_library() == str(debug)  # the stale release build does not win
    os.utime(release, None)
    os.utime(debug, (1_000_000, 1_000_000))
    assert _loader.find_library() == str(release)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / name).write_bytes(b"")
    assert _loader.find_library() == str(tmp_path / "pkg" / name)  # a bundled copy first
