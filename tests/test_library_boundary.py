"""The library holds all logic and never imports KFP (components and pipelines do)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_every_library_module_does_not_import_kfp() -> None:
    code = (
        "import importlib, pkgutil, sys, mtforge\n"
        "names = [m.name for m in pkgutil.walk_packages(mtforge.__path__, 'mtforge.')]\n"
        "[importlib.import_module(n) for n in names]\n"
        "assert len(names) > 20, names\n"
        "bad = sorted(m for m in sys.modules if m == 'kfp' or m.startswith('kfp.'))\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
