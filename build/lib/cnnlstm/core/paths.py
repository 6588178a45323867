"""Where the project keeps its data: `$CNNLSTM_HOME`, default `./data` in the working directory."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """The project's data directory (store, artifacts, MLflow database); created on demand."""
    home = Path(os.environ.get("CNNLSTM_HOME", "data")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def default_store() -> Path:
    """The default Parquet bars store inside the data directory."""
    return data_home() / "store"
