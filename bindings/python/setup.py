"""Builds the native library with cargo (setuptools-rust) and ships it inside the package.

The Rust crate is the repository's root ``Cargo.toml``, two levels up; its version is the
package's, and its generated header ``include/otlpmetric.h`` is put next to the library
for the cffi front. The library is a plain C-ABI ``cdylib`` that does not link against
Python, so the wheel is tagged ``py3-none-<platform>``: one wheel serves every Python 3.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools_rust import Binding, RustExtension, Strip
from setuptools_rust.build import build_rust

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - older Pythons build with tomli (a build requirement)
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
CRATE = HERE.parent.parent
MANIFEST = CRATE / "Cargo.toml"
HEADER = CRATE / "include" / "otlpmetric.h"
# The name _loader.library_file_name() looks for in the package directory.
LIBRARY_FILE = {"win32": "otlpmetric.dll", "darwin": "libotlpmetric.dylib"}.get(sys.platform, "libotlpmetric.so")

if not MANIFEST.is_file() or not HEADER.is_file():
    sys.exit(
        f"otlpmetric: building this package needs the whole source tree ({MANIFEST} and {HEADER}); "
        "build it from a checkout (pip install ./bindings/python), not from a copy of bindings/python"
    )


def crate_version() -> str:
    with MANIFEST.open("rb") as f:
        return tomllib.load(f)["package"]["version"]


class BuildPyWithHeader(build_py):
    """Puts the generated C header into the package, where the cffi front reads it."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "otlpmetric" / "otlpmetric.h"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(HEADER, target)

    def get_outputs(self, include_bytecode: bool = True) -> list:
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / "otlpmetric" / "otlpmetric.h")]


class BuildRustPlainLibrary(build_rust):
    """Installs the cdylib under its own file name (``libotlpmetric.so``), not as a Python
    extension module name (``libotlpmetric.cpython-311-x86_64-linux-gnu.so``): it is loaded
    with ctypes or cffi, never imported."""

    def get_dylib_ext_path(self, ext: RustExtension, target_fname: str) -> str:
        return os.path.join(os.path.dirname(super().get_dylib_ext_path(ext, target_fname)), LIBRARY_FILE)


cmdclass = {"build_py": BuildPyWithHeader, "build_rust": BuildRustPlainLibrary}

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]


class BdistWheelAnyPython(bdist_wheel):
    """Tags the wheel ``py3-none-<platform>``: the native part does not use Python's ABI."""

    def get_tag(self) -> tuple:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


cmdclass["bdist_wheel"] = BdistWheelAnyPython

# egg_info refuses an egg_base that does not exist yet (a fresh checkout or work tree).
(CRATE / "target" / "python-build").mkdir(parents=True, exist_ok=True)

setup(
    version=crate_version(),
    cmdclass=cmdclass,
    rust_extensions=[
        RustExtension(
            "otlpmetric.libotlpmetric",
            path=str(MANIFEST),
            binding=Binding.NoBinding,
            # Debug symbols off (the C install keeps them); the exported symbols stay.
            strip=Strip.Debug,
        )
    ],
    options={
        # Build files under the crate's target/ (ignored by git, reused between builds).
        "build": {"build_base": str(CRATE / "target" / "python-build")},
        "egg_info": {"egg_base": str(CRATE / "target" / "python-build")},
    },
)
