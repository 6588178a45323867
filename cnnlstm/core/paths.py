"""Where the project keeps its data: `$CNNLSTM_HOME`, default `./data` in the working directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def data_home() -> Path:
    """The project's data directory (store, artifacts, MLflow database); created on demand."""
    home = Path(os.environ.get("CNNLSTM_HOME", "data")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def default_store() -> Path:
    """The default Parquet bars store inside the data directory."""
    return data_home() / "store"


def remove_left_by_dead_runs(parent: Path, pattern: str) -> None:
    """Remove what a killed run left: folders in `parent` matching `pattern` named `...-<pid>`.

    Only folders whose process no longer runs are removed (scratch and staging folders).
    """
    for entry in parent.glob(pattern):
        pid = entry.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
