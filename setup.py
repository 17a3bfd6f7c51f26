"""pnut's build: the Python package, plus upsd's hot path compiled by mypyc.

Why: a upsd request spends most of its user-space time in the protocol
core and the server's per-request code.  mypyc compiles those typed modules
to C extensions (the same source, run as C) and cuts that time by a third.
The extensions are kept in ``pnut/_native`` with a manifest of the sources
they were built from; ``pnut._native`` loads them only while every source
still matches, so an edited checkout runs its edited Python, never a stale
build.

The compiled part is optional: without a C compiler, without mypy, or with
``PNUT_PURE=1`` in the environment at build time, pnut installs as pure
Python and works the same, slower.  Everything else comes from
pyproject.toml.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src"
NATIVE_PACKAGE = "pnut._native"


def _native_helpers() -> ModuleType:
    """pnut/_native (the manifest's name and format), loaded from its file
    alone: importing the pnut package here would run its start-up code."""
    spec = importlib.util.spec_from_file_location("_pnut_native", SRC / "pnut/_native/__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NATIVE = _native_helpers()
MANIFEST: str = NATIVE.MANIFEST

#: The modules compiled: the sans-IO protocol core and the server's
#: per-connection and per-request code.  Startup-only modules (daemon,
#: config, mdns) stay Python: compiling them would only cost memory.
#: protocol/errors.py stays Python too: the client's error classes subclass
#: NutError, and interpreted code cannot subclass a compiled class.
COMPILED = [
    "pnut/protocol/cnum.py",
    "pnut/protocol/commands.py",
    "pnut/protocol/driversock.py",
    "pnut/protocol/limits.py",
    "pnut/protocol/replies.py",
    "pnut/protocol/requests.py",
    "pnut/protocol/state.py",
    "pnut/protocol/tokens.py",
    "pnut/protocol/upsname.py",
    "pnut/server/connection.py",
    "pnut/server/driverlink.py",
    "pnut/server/evloop.py",
    "pnut/server/guard.py",
    "pnut/server/listener.py",
    "pnut/server/replycache.py",
    "pnut/server/session.py",
    "pnut/server/store.py",
    "pnut/server/tlslayer.py",
    "pnut/server/tracking.py",
    "pnut/server/transport.py",
]


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def warn(message: str) -> None:
    print(f"pnut build: {message}; installing pure Python (slower upsd)", file=sys.stderr)


class BuildNative(build_ext):
    """Compiles :data:`COMPILED` with mypyc, or nothing, never failing the install."""

    def finalize_options(self) -> None:
        # Here rather than in setup(): mypy runs only when extensions are built,
        # not in pip's metadata steps.
        self._originals: dict[str, Extension] = {}
        if os.environ.get("PNUT_PURE") != "1":
            try:
                self._originals = self._mypycify()
            except Exception as exc:  # no mypy, a type error, anything: stay pure
                warn(f"mypyc unavailable ({exc!r})")
        self.distribution.ext_modules = list(self._originals.values())
        super().finalize_options()
        if not self._originals:
            # Nothing to build, so run() may never be called (an editable
            # install then skips build_ext): drop an older build's manifest now.
            self._forget()

    def run(self) -> None:
        (self._native_dir() / MANIFEST).unlink(missing_ok=True)
        if not self.extensions:
            return
        try:
            super().run()
        except Exception as exc:  # no compiler, no Python headers
            warn(f"compiling failed ({exc!r})")
            self.extensions = []
            return
        self._write_manifest(self._originals)

    def _mypycify(self) -> dict[str, Extension]:
        """mypyc's extensions, renamed into pnut._native, by their module's name."""
        from mypyc.build import mypycify

        cwd = os.getcwd()
        os.chdir(ROOT)  # mypy reads pyproject.toml's [tool.mypy] and finds "src"
        try:
            extensions = mypycify(
                ["--ignore-missing-imports", "--follow-imports=silent",
                 *(f"src/{path}" for path in COMPILED)],
                opt_level="3",
                target_dir=str(ROOT / "build" / "mypyc"),
            )
        finally:
            os.chdir(cwd)
        originals = {}
        for ext in extensions:
            originals[ext.name] = ext
            ext.name = f"{NATIVE_PACKAGE}.{ext.name.replace('.', '_')}"
            ext.sources = [str(ROOT / s) for s in ext.sources]
            ext.include_dirs = [str(ROOT / d) for d in ext.include_dirs]
        return originals

    def _write_manifest(self, originals: dict[str, Extension]) -> None:
        """pnut/_native/manifest.txt: the extensions' files, and for each
        compiled module the stamp of the source it was built from."""
        files = {original: Path(self.get_ext_fullpath(ext.name)).name
                 for original, ext in originals.items()}
        stamps = {module_name(path): NATIVE.stamp((SRC / path).read_bytes())
                  for path in COMPILED}
        target = self._native_dir()
        target.mkdir(parents=True, exist_ok=True)
        (target / MANIFEST).write_text(
            NATIVE.manifest_text(self.get_ext_filename("x")[1:], files, stamps))
        for old in target.glob("*.so"):  # an older build's, of other modules or group
            if old.name not in files.values():
                old.unlink()

    def _native_dir(self) -> Path:
        return Path(self.get_ext_fullpath(f"{NATIVE_PACKAGE}.x")).parent

    def _forget(self) -> None:
        """No manifest: a pure build never loads an older build's extensions
        (in the build's folder, and in src/ where an editable build keeps them)."""
        for directory in {self._native_dir(), SRC / "pnut" / "_native"}:
            (directory / MANIFEST).unlink(missing_ok=True)

    def get_outputs(self) -> list[str]:
        outputs = super().get_outputs()
        manifest = self._native_dir() / MANIFEST
        return [*outputs, str(manifest)] if manifest.exists() else outputs


setup(
    # A placeholder, replaced in BuildNative.finalize_options: it makes the
    # build run build_ext (and the wheel platform-specific) without running
    # mypy in every metadata step.
    ext_modules=[Extension(f"{NATIVE_PACKAGE}.placeholder", sources=[])],
    cmdclass={"build_ext": BuildNative},
)
