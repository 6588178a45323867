"""Lineage: which dataset and protocol a model was trained on, as the registry keys it.

A dataset is the data source's kind, the market preset and a fingerprint of the universe:
for the simulated market its generating process (`SimConfig` less its date span, so a longer
simulation of the same market is the same dataset, while `effects=none` is another), for the
other sources the source's specification and reader options (the same folder, file or symbol
list). Each dataset has its own registered models `<prefix>-<dataset>-cnn/-lstm` and so its own
champion; the live flows compute the key from their own data and refuse a model whose tags name
another one.
"""

from __future__ import annotations

import hashlib
import json

from cnnlstm.flows.params import DataParams, Protocol
from cnnlstm.infra.tracking import Lineage


def _digest(payload: object) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def universe_fingerprint(data: DataParams) -> str:
    """10 hex digits that identify the source's universe (see the module docstring)."""
    kind, _, spec = data.source.strip().partition(":")
    if data.is_sim:
        return _digest({"kind": "sim", "sim": data.sim.model_dump(exclude={"start", "end"})})
    return _digest({"kind": kind.lower(), "spec": spec.strip(), "options": data.source_options})


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
