"""The compiled hot path (pnut/_native): used when current, never when stale.

scripts/test (CI) sets PNUT_EXPECT_NATIVE=1: there the build must have
compiled, so a broken mypyc build fails here instead of passing as pure
Python.  Elsewhere the tests that need a compiled build skip when the
checkout was installed without one (PNUT_PURE=1 or no C compiler).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pnut
from pnut import _native

PACKAGE = Path(pnut.__file__).resolve().parent
PROBE = ("import pnut, pnut._native as n, pnut.server.session as s, pnut.protocol.tokens as t;"
         "print(len(n.ACTIVE), s.__file__, t.__file__, n.describe(), sep='|')")


def built() -> bool:
    return _native.read_manifest(str(PACKAGE / "_native")) is not None


def need_build() -> None:
    if not built():
        if os.environ.get("PNUT_EXPECT_NATIVE") == "1":
            pytest.fail("PNUT_EXPECT_NATIVE=1 but the install has no compiled build "
                        "(see pip's 'pnut build:' warning)")
        pytest.skip("installed without the compiled build")


def probe(pythonpath: Path | None = None, **env: str) -> tuple[int, str, str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PNUT_PURE", "PYTHONPATH")}
    if pythonpath is not None:
        environ["PYTHONPATH"] = str(pythonpath)
    environ.update(env)
    out = subprocess.run([sys.executable, "-c", PROBE], env=environ, cwd="/",
                         capture_output=True, text=True, check=True).stdout.strip()
    active, session, tokens, description = out.split("|")
    return int(active), session, tokens, description


def copy_of_package(tmp_path: Path) -> Path:
    shutil.copytree(PACKAGE, tmp_path / "pnut",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_build_is_in_use() -> None:
    need_build()
    active, session, tokens, description = probe()
    manifest = _native.read_manifest(str(PACKAGE / "_native"))
    assert manifest is not None
    assert active == len(manifest[2]) >= 20
    assert session.endswith(manifest[0]) and "_native" in session
    assert tokens.endswith(manifest[0])
    assert description.startswith("upsd's hot path compiled by mypyc")


def test_an_edited_source_runs_as_python(tmp_path: Path) -> None:
    need_build()
    root = copy_of_package(tmp_path)
    assert probe(root)[0] > 0  # the copy, unedited, is compiled
    with (root / "pnut/server/session.py").open("a") as f:
        f.write("# edited\n")
    active, session, tokens, description = probe(root)
    assert active == 0
    assert session == str(root / "pnut/server/session.py")
    assert tokens == str(root / "pnut/protocol/tokens.py")  # the whole group, not one module
    assert "changed since the build: pnut.server.session" in description


def test_the_manifest_reads_back_as_written(tmp_path: Path) -> None:
    files = {"abc__mypyc": "abc__mypyc.so", "pnut.server.session": "pnut_server_session.so"}
    stamps = {"pnut.server.session": _native.stamp(b"source\n")}
    (tmp_path / _native.MANIFEST).write_text(_native.manifest_text(".so", files, stamps))
    assert _native.read_manifest(str(tmp_path)) == (
        ".so", {module: str(tmp_path / file) for module, file in files.items()}, stamps)


def test_pnut_pure_turns_it_off() -> None:
    active, session, _, description = probe(PNUT_PURE="1")
    assert active == 0 and session.endswith("session.py")
    assert description == "pure Python (PNUT_PURE=1)"


@pytest.mark.parametrize("manifest", [
    "",
    "garbage\n",
    "suffix .cpython-27-x86_64-linux-gnu.so\npnut.server.session x.so 00000000 1\n",
    "suffix .so\npnut.server.session\n",
])
def test_a_bad_manifest_means_python(tmp_path: Path, manifest: str) -> None:
    root = copy_of_package(tmp_path)
    (root / "pnut/_native/manifest.txt").write_text(manifest)
    active, session, _, description = probe(root)
    assert active == 0 and session == str(root / "pnut/server/session.py")
    assert description.startswith("pure Python (")


def test_a_missing_extension_means_python(tmp_path: Path) -> None:
    need_build()
    root = copy_of_package(tmp_path)
    next((root / "pnut/_native").glob("pnut_server_session.*")).unlink()
    active, session, _, description = probe(root)
    assert active == 0 and session == str(root / "pnut/server/session.py")
    assert description == "pure Python (the build is incomplete)"
