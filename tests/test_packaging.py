"""Installed import names: one `cnnlstm` namespace that cannot clash with a user's packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPED = ("flows", "tasks", "models", "schemas")


def _source_packages() -> set[str]:
    names = set()
    for init in ROOT.glob("**/__init__.py"):
        rel = init.parent.relative_to(ROOT)
        top = rel.parts[0]
        if top in MAPPED:
            names.add(".".join(("cnnlstm", *rel.parts)))
        elif top == "cnnlstm":
            names.add(".".join(rel.parts))
    return names


def test_every_source_package_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(config["packages"]) == _source_packages()
    assert config["package-dir"] == {f"cnnlstm.{name}": name for name in MAPPED}


def test_install_beside_a_users_models_and_tasks_packages(tmp_path):
    # A fresh (non-editable) install next to a user's own top-level `models` and `tasks`, built
    # from a copy of the sources (a build in place would leave build/ in the working tree).
    source = tmp_path / "src"
    keep = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("cnnlstm", *MAPPED):
        shutil.copytree(ROOT / name, source / name, ignore=keep)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    top_level = {p.name for p in target.iterdir() if not p.name.endswith((".dist-info", "bin"))}
    assert top_level == {"cnnlstm"}, top_level
    user = tmp_path / "user"
    for name in ("models", "tasks"):
        (user / name).mkdir(parents=True)
        (user / name / "__init__.py").write_text(f"OWNER = 'user {name}'\n")
    probe = (
        "import models, tasks, cnnlstm.models.cnn as cnn, cnnlstm.tasks.strategy.select as sel;"
        "import cnnlstm.flows.params as params;"
        "print(models.OWNER, tasks.OWNER, cnn.__file__, sel.__file__, params.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        check=True, capture_output=True, text=True, cwd=tmp_path,
        env={"PYTHONPATH": f"{user}:{target}", "PATH": "/usr/bin:/bin"},
    ).stdout.split()  # fmt: skip
    assert out[:4] == ["user", "models", "user", "tasks"]
    assert all(path.startswith(str(target)) for path in out[4:]), out
