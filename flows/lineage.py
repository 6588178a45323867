"""Lineage: which dataset and protocol a model was trained on, as the registry keys it.

A dataset is the data source's kind, the market preset and a fingerprint of the universe:
for the simulated market its generating process (`SimConfig` less its date span, so a longer
simulation of the same market is the same dataset, while `effects=none` is another); for a
local folder or file its resolved absolute path (so `qlib:../x` and `qlib:/abs/x` are one
dataset, and `csv:data/live` under two project folders are two) plus its universe (the symbols a
folder holds: Qlib's `features/` folders, else the file names; new bars do not change it, a new
or removed stock does) and the reader options; for an online source its symbol list and options.
Each dataset has its own registered models `<prefix>-<dataset>-cnn/-lstm` and so its own
champion; the live flows compute the key from their own data and refuse a model whose tags name
another one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cnnlstm.flows.params import DataParams, Protocol
from cnnlstm.infra.tracking import Lineage


def _digest(payload: object) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


#: Source kinds that read a local folder or file (the others name symbols online).
LOCAL_KINDS = frozenset({"qlib", "akshare", "netease", "csv", "parquet"})


def folder_universe(path: Path) -> list[str]:
    """The symbols a local source holds, by name (a single file: its name)."""
    if not path.is_dir():
        return [path.name]
    features = path / "features"
    if features.is_dir():  # Qlib's layout: one folder per symbol
        return sorted({p.name.lower() for p in features.iterdir() if p.is_dir()})
    files = (p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return sorted({p.relative_to(path).with_suffix("").as_posix().lower() for p in files})


def universe_fingerprint(data: DataParams) -> str:
    """10 hex digits that identify the source's universe (see the module docstring)."""
    kind, _, spec = data.source.strip().partition(":")
    kind = kind.lower()
    if data.is_sim:
        return _digest({"kind": "sim", "sim": data.sim.model_dump(exclude={"start", "end"})})
    if kind in LOCAL_KINDS:
        path = Path(spec.strip()).expanduser().resolve()
        return _digest(
            {
                "kind": kind,
                "path": str(path),
                "universe": folder_universe(path),
                "options": data.source_options,
            }
        )
    return _digest({"kind": kind, "spec": spec.strip(), "options": data.source_options})


def protocol_fingerprint(protocol: Protocol) -> str:
    """10 hex digits of the train/test split, execution and hold days."""
    return _digest(protocol.model_dump(mode="json"))


def lineage_of(data: DataParams, market: str, protocol: Protocol | None = None) -> Lineage:
    """The lineage of a model trained (or run live) on `data` under market preset `market`."""
    kind = data.source.strip().lower().split(":", 1)[0]
    return Lineage(
        source_kind=kind,
        market=market,
        universe=universe_fingerprint(data),
        protocol=protocol_fingerprint(protocol) if protocol is not None else None,
    )
