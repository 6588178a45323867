"""The import floors hold, and the check that keeps them catches a module importing upward."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("lint_layers", ROOT / "scripts" / "lint_layers.py")
lint_layers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lint_layers)


def _lint(view: Path) -> subprocess.CompletedProcess:
    code = (
        "import sys; from importlinter.cli import lint_imports;"
        f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=view, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(view)},
    )  # fmt: skip


def test_the_floors_are_kept():
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lint_layers.py")], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert "BROKEN" not in run.stdout


def test_an_upward_import_breaks_the_floors(tmp_path):
    view = lint_layers.build_view(tmp_path)
    core = view / "cnnlstm" / "core"
    core.unlink()
    shutil.copytree(ROOT / "cnnlstm" / "core", core, ignore=shutil.ignore_patterns("__pycache__"))
    (core / "upward.py").write_text("from cnnlstm.flows import params  # noqa: F401\n")
    run = _lint(view)
    assert run.returncode != 0
    assert "cnnlstm.core.upward -> cnnlstm.flows.params" in run.stdout
