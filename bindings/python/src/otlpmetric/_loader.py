"""Finding the native library and the C header."""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path
from typing import List, Optional

from ._types import LibraryNotFoundError

__all__ = ["library_file_name", "find_library", "find_header", "checkout_root"]

_PACKAGE_DIR = Path(__file__).resolve().parent
LIBRARY_ENV = "OTLPMETRIC_LIBRARY"
HEADER_ENV = "OTLPMETRIC_HEADER"


def library_file_name() -> str:
    if sys.platform == "win32":
        return "otlpmetric.dll"
    if sys.platform == "darwin":
        return "libotlpmetric.dylib"
    return "libotlpmetric.so"


def checkout_root() -> Optional[Path]:
    """The root of the otlpmetric source checkout this package runs from (an editable
    install, or straight from ``bindings/python/src``), or None for an installed copy."""
    for parent in _PACKAGE_DIR.parents:
        if (parent / "Cargo.toml").is_file() and (parent / "bindings" / "python" / "pyproject.toml").is_file():
            return parent
    return None


def _env_path(name: str) -> Optional[Path]:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def find_library() -> str:
    """The path (or, from ``find_library``, the name) of the native library to load.

    Tried in order: ``$OTLPMETRIC_LIBRARY``; the library the package's build put into the
    package directory (``pip install`` builds it with cargo);
    ``target/release`` or ``target/debug`` of the source checkout the package runs from
    (the more recently built when both exist); ``ctypes.util.find_library("otlpmetric")``.
    Raises
    :class:`LibraryNotFoundError` naming everything tried.
    """
    name = library_file_name()
    env = _env_path(LIBRARY_ENV)
    if env is not None:
        if env.is_file():
            return str(env)
        raise LibraryNotFoundError(
            f"{LIBRARY_ENV}={os.environ[LIBRARY_ENV]!r} does not name a file: "
            f"point it at {name} (built by `cargo build` into target/debug/)"
        )
    tried: List[str] = [f"${LIBRARY_ENV} (not set)"]
    bundled = _PACKAGE_DIR / name
    if bundled.is_file():
        return str(bundled)
    tried.append(str(bundled))
    root = checkout_root()
    if root is not None:
        builds = [root / "target" / "release" / name, root / "target" / "debug" / name]
        existing = [p for p in builds if p.is_file()]
        if existing:
            # Both built: the fresher one (a stale release build must not shadow the
            # debug build just made); on a tie, release.
            return str(max(existing, key=lambda p: p.stat().st_mtime))
        tried += [str(p) for p in builds]
    found = ctypes.util.find_library("otlpmetric")
    if found:
        return found
    tried.append('ctypes.util.find_library("otlpmetric")')
    raise LibraryNotFoundError(
        f"the otlpmetric native library ({name}) was not found; tried: "
        + "; ".join(tried)
        + f". Install the package with pip (`pip install ./bindings/python` builds it), or build it "
        f"with `cargo build` and set {LIBRARY_ENV} to its path."
    )


def find_header() -> Path:
    """The C header for the cffi front: ``$OTLPMETRIC_HEADER``, then the source
    checkout's ``include/otlpmetric.h``, then the one the package's build put into it."""
    env = _env_path(HEADER_ENV)
    if env is not None:
        if env.is_file():
            return env
        raise LibraryNotFoundError(
            f"{HEADER_ENV}={os.environ[HEADER_ENV]!r} does not name a file: point it at include/otlpmetric.h"
        )
    tried: List[str] = [f"${HEADER_ENV} (not set)"]
    candidates: List[Path] = []
    root = checkout_root()
    if root is not None:
        candidates.append(root / "include" / "otlpmetric.h")
    candidates.append(packaged_header())
    for path in candidates:
        if path.is_file():
            return path
        tried.append(str(path))
    raise LibraryNotFoundError("the otlpmetric C header was not found; tried: " + "; ".join(tried))


def packaged_header() -> Path:
    """Where the package's build puts ``include/otlpmetric.h`` (setup.py)."""
    return _PACKAGE_DIR / "otlpmetric.h"
