"""MLflow tracking and the model registry for the flows.

The tracking URI comes from `MLFLOW_TRACKING_URI`; by default it is a SQLite database in the
project's data directory (`sqlite:///<data_home>/mlflow.db`) with run artifacts beside it in
`<data_home>/mlartifacts` (never the deprecated file store, never `./mlruns` in whatever directory
the process happens to start in). One experiment per flow (`cnnlstm-backtest`, ...).

What a run holds: every parameter (nested pydantic models flattened to dotted keys), per-epoch
training curves of both networks, the report's metrics, Table 2, the figures, the trade ledger,
and the networks, each checkpoint registered once (`register_checkpoint`) with the alias
`challenger`; `champion` is set explicitly (`promote`) or by a `PromotionRule`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.paths import data_home
from cnnlstm.core.redact import redact_url
from cnnlstm.infra import tracking_store
from cnnlstm.infra.artifacts import ArtifactRef, fingerprint_file
from cnnlstm.infra.dead_runs import mark_dead_runs_quietly, owner_tags

CHALLENGER = "challenger"
CHAMPION = "champion"
#: What a logged model needs at load time; listing it skips MLflow's slow requirement inference.
MODEL_PIP_REQUIREMENTS = ("torch==2.13.0", "pytorch-lightning==2.6.6", "numpy")
_MAX_PARAM_CHARS = 6000  # MLflow's limit on a parameter value


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else the SQLite database in the data directory."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    return uri or f"sqlite:///{data_home() / 'mlflow.db'}"


def _is_local_store(uri: str) -> bool:
    """Whether the tracking store is local (its artifacts then go into the data directory)."""
    return not uri.startswith(("http://", "https://", "databricks"))


def configure() -> str:
    """Point MLflow at `tracking_uri()` (a local store created and verified first); return it."""
    import mlflow

    uri = tracking_uri()
    tracking_store.prepare(uri)
    mlflow.set_tracking_uri(uri)
    return uri


def store_stamp(uri: str) -> str | None:
    """A stamp that changes whenever a local SQLite tracking store is written; None otherwise.

    The database file's size, modification time (ns) and SQLite's file change counter (header
    bytes 24-27, bumped by every write transaction in rollback-journal mode), plus the size and
    time of a write-ahead log if there is one. A server or a non-SQLite store has no stamp: its
    answers are never reused.
    """
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri.removeprefix("sqlite:///"))
    try:
        stat = path.stat()
        with path.open("rb") as db:
            counter = db.read(28)[24:28].hex()
    except OSError:
        return None
    parts = [str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns), counter]
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        wal_stat = wal.stat()
        parts += [str(wal_stat.st_size), str(wal_stat.st_mtime_ns)]
    return "|".join(parts)


def ensure_experiment(name: str) -> str:
    """Return the id of experiment `name`, creating it (artifacts in the data directory)."""
    import mlflow

    uri = configure()
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        _warn_if_elsewhere(experiment, uri)
        return experiment.experiment_id
    location = None
    if _is_local_store(uri):
        location = (data_home() / "mlartifacts" / name).resolve().as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        created = mlflow.get_experiment_by_name(name)  # another run created it just now
        if created is None:
            raise
        return created.experiment_id


def _warn_if_elsewhere(experiment: Any, uri: str) -> None:
    """Say so when a shared local tracking store keeps this data directory's artifacts elsewhere.

    An experiment's artifact location is fixed when it is created: with one tracking database
    shared by several data directories, every run's artifacts go into the first one's.
    """
    location = str(experiment.artifact_location or "")
    if not _is_local_store(uri) or not location.startswith("file:"):
        return
    home = data_home().resolve().as_uri()
    if not location.startswith(home + "/"):
        warnings.warn(
            f"MLflow experiment {experiment.name!r} keeps run artifacts in {location}, not in "
            f"this data directory ({data_home()}): the tracking store {uri} is shared with "
            "another data directory. Leave MLFLOW_TRACKING_URI unset (one database per data "
            "directory) to keep each directory's artifacts in it.",
            stacklevel=3,
        )


@contextmanager
def tracked_run(
    experiment: str,
    *,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    start_time: float | None = None,
) -> Iterator[Any]:
    """Start an MLflow run in `experiment` (created on demand); yields the active run.

    `start_time` (seconds since the epoch, e.g. the flow run's start) is the run's recorded
    start, so its duration in the MLflow UI is the flow's, not only the tracking stage's. The
    run is tagged with its owner process; RUNNING runs of dead processes are marked KILLED
    first (`dead_runs`).
    """
    import mlflow

    experiment_id = ensure_experiment(experiment)
    mark_dead_runs_quietly(experiment_id)  # runs of killed processes: KILLED, not RUNNING
    tags = {**owner_tags(), **(tags or {})}
    if start_time is None:
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=run_name, tags=dict(tags or {})
        ) as run:
            yield run
        return
    created = mlflow.MlflowClient().create_run(
        experiment_id, start_time=int(start_time * 1000), tags=dict(tags or {}), run_name=run_name
    )
    with mlflow.start_run(run_id=created.info.run_id) as run:
        yield run


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested pydantic models and mappings into `{"a.b.c": value}`."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(flatten(value, name))
    else:
        out[prefix] = obj
    return out


def log_params(params: BaseModel | Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Log every (flattened) parameter of the active run; returns what was logged."""
    import mlflow

    flat = {k: _param_text(v) for k, v in flatten(params, prefix).items()}
    items = list(flat.items())
    for start in range(0, len(items), 100):  # MLflow accepts at most 100 params per batch
        mlflow.log_params(dict(items[start : start + 100]))
    return flat


def _param_text(value: Any) -> str:
    text = "None" if value is None else str(value)
    return text if len(text) <= _MAX_PARAM_CHARS else text[: _MAX_PARAM_CHARS - 3] + "..."


def numeric_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a (nested) metrics mapping, flattened to dotted keys."""
    out: dict[str, float] = {}
    for key, value in flatten(dict(metrics), prefix).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(float(value)):
            out[_metric_key(key)] = float(value)
    return out


def _metric_key(key: str) -> str:
    """Replace characters MLflow rejects in metric names (letters, digits and _-./ pass)."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in key)


def log_metrics(metrics: Mapping[str, Any], prefix: str = "", step: int | None = None) -> int:
    """Log the finite numeric entries of `metrics` in one batch; returns how many."""
    import mlflow

    values = numeric_metrics(metrics, prefix)
    if values:
        mlflow.log_metrics(values, step=step)
    return len(values)


def log_history(network: str, history: Any) -> int:
    """Log per-epoch training curves as `<network>/<metric>` with step = epoch.

    Args:
        network: `cnn` or `lstm` (the metric prefix).
        history: A polars frame or a sequence of mappings, one row per epoch, with an optional
            `epoch` column and numeric metric columns (`train_loss`, `val_loss`, `val_acc`, ...).

    Returns:
        The number of epochs logged.
    """
    from mlflow import MlflowClient, active_run
    from mlflow.entities import Metric

    rows = history.to_dicts() if isinstance(history, pl.DataFrame) else list(history or [])
    run = active_run()
    if run is None:
        raise RuntimeError("log_history needs an active MLflow run")
    now = int(time.time() * 1000)
    batch: list[Metric] = []
    for index, row in enumerate(rows):
        step = int(row.get("epoch", index))
        for key, value in numeric_metrics({k: v for k, v in row.items() if k != "epoch"}).items():
            batch.append(Metric(key=f"{network}/{key}", value=value, timestamp=now, step=step))
    client = MlflowClient()
    for start in range(0, len(batch), 1000):  # MLflow's limit on metrics per batch
        client.log_batch(run.info.run_id, metrics=batch[start : start + 1000])
    return len(rows)


def log_frame(df: pl.DataFrame, artifact_file: str) -> None:
    """Log a table as a CSV artifact (e.g. `ledger/trades.csv`) of the active run."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        df.write_csv(path)
        parent = str(Path(artifact_file).parent)
        mlflow.log_artifact(str(path), artifact_path=None if parent == "." else parent)


def log_files(paths: Sequence[str | Path], artifact_dir: str) -> None:
    """Log existing files (figures, Table 2, metrics.json) under `artifact_dir`."""
    import mlflow

    for path in paths:
        mlflow.log_artifact(str(path), artifact_path=artifact_dir)


@dataclass(frozen=True)
class RegisteredModel:
    """Where a logged model landed in the registry."""

    name: str
    version: str
    run_id: str
    model_uri: str  # models:/<name>/<version>


def register_checkpoint(
    checkpoint: str | Path | ArtifactRef,
    registered_name: str,
    *,
    tags: Mapping[str, str] | None = None,
    window: int = 30,
) -> RegisteredModel:
    """Register the network saved in `checkpoint` as a version of `registered_name`, once.

    The one place this project registers a network. Its key is the checkpoint's content
    fingerprint (model-version tag `checkpoint`; an `ArtifactRef`'s own, else the file's), so
    one checkpoint is one version whichever runs, seeds, folds or flows register it: one
    already registered returns its version (aliases untouched), and two runs registering it at
    the same moment end with one version (each creates its version with the tag, then the
    lowest version of that checkpoint is kept and the others are deleted).

    A new version is logged to the active MLflow run as its weights (`state_dict`) and typed
    config (JSON), with `cnnlstm/infra/network_model.py` logged as code for MLflow's own serving
    (no pickled class: `network_from_store` loads it running none of the stored code), carries
    `tags` (the lineage: `Lineage.tags()`) and gets the alias `challenger`.

    Args:
        checkpoint: The trained network's checkpoint (a path or the training stage's reference).
        registered_name: The registry name (`registry_name(...)`).
        tags: Model-version tags of a new version.
        window: Days per LSTM input in the model's signature (the CNN's input is fixed).

    Raises:
        RuntimeError: no MLflow run is active.
    """
    import mlflow
    from mlflow import MlflowClient

    from cnnlstm.tasks.training.loop import load_classifier  # torch: only when registering

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("register_checkpoint needs an active MLflow run")
    path, fingerprint = _checkpoint_file(checkpoint)
    client = MlflowClient()
    found = registered_checkpoint(client, registered_name, fingerprint)
    if found is not None:
        return _registered(registered_name, found)
    info = _log_network(load_classifier(path), window)
    _ensure_registered_model(client, registered_name)
    created = client.create_model_version(
        registered_name,
        source=info.model_uri,
        run_id=run.info.run_id,
        model_id=info.model_id,
        tags={**(tags or {}), CHECKPOINT_TAG: fingerprint},
    )
    kept = registered_checkpoint(client, registered_name, fingerprint)
    if str(kept.version) != str(created.version):  # another run registered it meanwhile
        client.delete_model_version(registered_name, str(created.version))
        return _registered(registered_name, kept)
    client.set_registered_model_alias(registered_name, CHALLENGER, str(created.version))
    return _registered(registered_name, created)


def _checkpoint_file(checkpoint: str | Path | ArtifactRef) -> tuple[Path, str]:
    """(local path, content fingerprint) of a checkpoint: a reference's own, else the file's."""
    if isinstance(checkpoint, ArtifactRef):
        return checkpoint.local_path(), checkpoint.fingerprint
    return Path(checkpoint), fingerprint_file(checkpoint)


def _registered(registered_name: str, version: Any) -> RegisteredModel:
    number = str(version.version)
    return RegisteredModel(
        registered_name, number, version.run_id, f"models:/{registered_name}/{number}"
    )


def example_batch(config: Mapping[str, Any], window: int) -> np.ndarray:
    """A zero batch of two inputs of a network (`network_config`): (2, 1, 32) or (2, window, 6)."""
    shape = config["shape"]
    if config["kind"] == "cnn":
        return np.zeros((2, 1, int(shape.get("n_inputs", 32))), dtype=np.float32)
    return np.zeros((2, window, int(shape.get("n_features", 6))), dtype=np.float32)


def _log_network(module: Any, window: int) -> Any:
    """Log `module` to the active run as weights + JSON config + serving code; MLflow's info."""
    import mlflow
    import torch
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    from cnnlstm.models.modules import network_config

    config = network_config(module)
    example = example_batch(config, window)
    with tempfile.TemporaryDirectory(prefix="cnnlstm-model-") as tmp:
        weights, config_file = Path(tmp) / "weights.pt", Path(tmp) / "network.json"
        torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, weights)
        config_file.write_text(json.dumps(config, indent=1, sort_keys=True))
        return mlflow.pyfunc.log_model(
            name=config["kind"],
            python_model=str(Path(__file__).with_name("network_model.py")),
            artifacts={"weights": str(weights), "network": str(config_file)},
            signature=ModelSignature(
                inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *example.shape[1:]))]),
                outputs=Schema([TensorSpec(np.dtype(np.float32), (-1,))]),
            ),
            input_example=example,
            pip_requirements=list(MODEL_PIP_REQUIREMENTS),
        )


def _ensure_registered_model(client: Any, registered_name: str) -> None:
    """Create the registered model unless it exists (another run may create it at once).

    Through the client: the fluent `registered_model_name=` prints its own "Successfully
    registered" lines to stderr.
    """
    from mlflow.exceptions import MlflowException

    if client.search_registered_models(filter_string=f"name='{registered_name}'"):
        return
    try:
        client.create_registered_model(registered_name)
    except MlflowException:
        if not client.search_registered_models(filter_string=f"name='{registered_name}'"):
            raise  # not another run creating it at the same moment


#: The model-version tag holding the checkpoint's content fingerprint.
CHECKPOINT_TAG = "checkpoint"


def registered_checkpoint(client: Any, registered_name: str, checkpoint: str) -> Any | None:
    """The lowest version of `registered_name` registered from `checkpoint` (a fingerprint)."""
    if not client.search_registered_models(filter_string=f"name='{registered_name}'"):
        return None
    found = client.search_model_versions(
        f"name='{registered_name}' and tags.{CHECKPOINT_TAG}='{checkpoint}'"
    )
    return min(found, key=lambda v: int(v.version)) if found else None


class PromotionRule(BaseModel):
    """When a new challenger becomes `champion` automatically: a gate of out-of-sample metrics.

    The challenger must beat the current champion by more than `min_improvement` on every metric
    of `metrics` (default: the CNN's out-of-sample mean rank IC and the CNN-LSTM strategy's net
    annualized excess return over the benchmark), and only a champion of the same dataset and
    protocol (the model versions' `dataset` and `protocol` tags) is compared; with no champion
    yet, the first challenger is promoted. A champion of another dataset or protocol is never
    replaced automatically: promote explicitly (`cnnlstm promote`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(True, description="promote automatically after each training")
    metrics: tuple[str, ...] = Field(
        ("cnn_oos.mean_rank_ic", "cnn_lstm.excess_return"),
        min_length=1,
        description="run metrics the challenger must beat the champion on (all of them)",
    )
    higher_is_better: bool = Field(True, description="direction of the metrics")
    min_improvement: float = Field(
        0.0, ge=0, description="the challenger must beat the champion by more than this"
    )

    @model_validator(mode="before")
    @classmethod
    def _single_metric(cls, data: Any) -> Any:
        """Accept `metric=NAME` (one metric) as the older spelling of `metrics=(NAME,)`."""
        if isinstance(data, Mapping) and "metric" in data:
            data = dict(data)
            metric = data.pop("metric")
            if "metrics" in data:
                raise ValueError("give metric or metrics, not both")
            data["metrics"] = (metric,)
        return data


class GateRow(BaseModel):
    """One metric of a promotion comparison."""

    model_config = ConfigDict(frozen=True)

    metric: str
    challenger: float | None
    champion: float | None
    margin: float | None
    passed: bool


class PromotionDecision(BaseModel):
    """What the promotion gate decided for one run's models, and why."""

    model_config = ConfigDict(frozen=True)

    registered_name: str
    challenger_version: str
    champion_version: str | None
    promote: bool
    reason: str
    rows: list[GateRow] = Field(default_factory=list)

    def describe(self) -> str:
        """A short table of the comparison."""
        lines = [
            f"{self.registered_name}: challenger v{self.challenger_version} vs champion "
            + (f"v{self.champion_version}" if self.champion_version else "(none)")
        ]
        for row in self.rows:
            lines.append(
                f"  {row.metric}: challenger {_num(row.challenger)}, champion "
                f"{_num(row.champion)}, margin {_num(row.margin)} -> "
                + ("pass" if row.passed else "fail")
            )
        verdict = "PROMOTE" if self.promote else "keep champion"
        lines.append(f"  decision: {verdict} ({self.reason})")
        return "\n".join(lines)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


#: Model-version tags that say what a model was trained on (see `Lineage`).
LINEAGE_TAGS = ("dataset", "source_kind", "market", "universe", "protocol")


class Lineage(BaseModel):
    """What a model was trained on: its dataset (source kind, market preset, universe) and protocol.

    `dataset` keys the registry: each dataset has its own registered models and champion.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_kind: str = Field(description="the data source's kind (sim, qlib, csv, ...)")
    market: str = Field(description="market preset (cn, us)")
    universe: str = Field(description="fingerprint of the source's universe (10 hex digits)")
    protocol: str | None = Field(None, description="fingerprint of the train/test protocol")

    @property
    def dataset(self) -> str:
        """The dataset key: `<source kind>-<market>-<universe>`."""
        return f"{self.source_kind}-{self.market}-{self.universe}"

    def tags(self) -> dict[str, str]:
        """The lineage as model-version tags."""
        out = {"dataset": self.dataset, "source_kind": self.source_kind, "market": self.market}
        out["universe"] = self.universe
        if self.protocol:
            out["protocol"] = self.protocol
        return out


def registry_name(prefix: str, network: str, lineage: Lineage) -> str:
    """The registered model of `network` for a dataset: `<prefix>-<dataset>-<network>`."""
    return f"{prefix}-{lineage.dataset}-{network}"


def version_tags(registered_name: str, version: str) -> dict[str, str]:
    """The tags of one model version."""
    from mlflow import MlflowClient

    configure()
    return dict(MlflowClient().get_model_version(registered_name, str(version)).tags)


def run_params(run_id: str) -> dict[str, str]:
    """The logged (flattened) parameters of a run."""
    from mlflow import MlflowClient

    configure()
    return dict(MlflowClient().get_run(run_id).data.params)


def promote(registered_name: str, version: str, alias: str = CHAMPION) -> None:
    """Point `alias` (default `champion`) at `version` of a registered model."""
    from mlflow import MlflowClient

    configure()
    MlflowClient().set_registered_model_alias(registered_name, alias, str(version))


def alias_version(registered_name: str, alias: str = CHAMPION) -> RegisteredModel | None:
    """The model version behind `alias`, or None when the alias (or the model) does not exist."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure()
    try:
        found = MlflowClient().get_model_version_by_alias(registered_name, alias)
    except MlflowException:
        return None
    return _registered(registered_name, found)


def _run_version(client: Any, name: str, run_id: str) -> Any:
    versions = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if not versions:
        raise UserInputError(f"run {run_id} registered no version of model {name!r}")
    return max(versions, key=lambda v: int(v.version))


def compare_to_champion(
    registered_name: str,
    run_id: str,
    rule: PromotionRule,
    alias: str = CHAMPION,
    version: str | None = None,
) -> PromotionDecision:
    """Compare the version `run_id` registered under `registered_name` with the champion.

    Only a champion of the same dataset and protocol (model-version tags) is compared; the
    metrics are the runs' logged metrics named by `rule.metrics`. `version`: the run's version
    when another run registered it (one checkpoint, one version); else the run's own.
    """
    from mlflow import MlflowClient

    configure()
    client = MlflowClient()
    challenger = (
        client.get_model_version(registered_name, version)
        if version is not None
        else _run_version(client, registered_name, run_id)
    )
    current = alias_version(registered_name, alias)
    base = {"registered_name": registered_name, "challenger_version": str(challenger.version)}
    if current is None:
        return PromotionDecision(
            **base, champion_version=None, promote=True, reason="no champion yet"
        )
    if current.run_id == run_id:
        return PromotionDecision(
            **base, champion_version=current.version, promote=True, reason="same run"
        )
    held = client.get_model_version(registered_name, current.version)
    for key in ("dataset", "protocol"):
        mine, theirs = challenger.tags.get(key), held.tags.get(key)
        if mine is None or mine != theirs:
            return PromotionDecision(
                **base,
                champion_version=current.version,
                promote=False,
                reason=f"not comparable: {key} {mine!r} (challenger) vs {theirs!r} (champion "
                f"v{current.version}); promote explicitly if intended",
            )
    rows = gate_rows(
        rule, client.get_run(run_id).data.metrics, client.get_run(current.run_id).data.metrics
    )
    promote_it = all(r.passed for r in rows)
    failed = [r.metric for r in rows if not r.passed]
    reason = (
        f"beats the champion by more than {rule.min_improvement} on every metric"
        if promote_it
        else f"does not beat the champion by more than {rule.min_improvement} on {failed}"
    )
    return PromotionDecision(
        **base, champion_version=current.version, promote=promote_it, reason=reason, rows=rows
    )


def gate_rows(
    rule: PromotionRule, ours: Mapping[str, float], theirs: Mapping[str, float]
) -> list[GateRow]:
    """The challenger's (`ours`) and the champion's (`theirs`) run metrics, compared by `rule`."""
    rows = []
    for metric in rule.metrics:
        a, b = ours.get(metric), theirs.get(metric)
        margin = None if a is None or b is None else (a - b if rule.higher_is_better else b - a)
        passed = margin is not None and margin > rule.min_improvement
        rows.append(GateRow(metric=metric, challenger=a, champion=b, margin=margin, passed=passed))
    return rows


def promote_by_rule(
    registered_names: Sequence[str] | Mapping[str, str], run_id: str, rule: PromotionRule
) -> bool:
    """Promote the versions logged by `run_id` to champion when `rule` says so.

    All `registered_names` (the CNN and the LSTM of one run) move together, judged by the gate
    against the run of the current CNN champion (`compare_to_champion`). A mapping gives each
    name's version (a version another run registered from the same checkpoint).

    Returns:
        Whether the run's models became champion.
    """
    from mlflow import MlflowClient

    if not rule.enabled:
        return False
    versions = dict(registered_names) if isinstance(registered_names, Mapping) else {}
    names = list(registered_names)
    if not compare_to_champion(names[0], run_id, rule, version=versions.get(names[0])).promote:
        return False
    configure()
    client = MlflowClient()
    for name in names:
        promote(name, versions.get(name) or _run_version(client, name, run_id).version)
    return True


def load_model(registered_name: str, alias: str = CHAMPION) -> tuple[Any, RegisteredModel]:
    """Load the network behind `registered_name@alias`; returns (Classifier, model version).

    Raises:
        UserInputError: No version carries the alias (train and promote one first).
    """
    version = alias_version(registered_name, alias)
    if version is None:
        raise UserInputError(
            f"no model version of {registered_name!r} is tagged @{alias} in "
            f"{redact_url(tracking_uri())}; "
            "run the backtest flow (it registers challengers) and promote one with "
            f"`cnnlstm promote {registered_name} VERSION`, or retrain=True"
        )
    return network_from_store(version.model_uri), version


def network_from_store(model_uri: str) -> Any:
    """The `Classifier` of a logged network, from its weights and JSON config only.

    No code from the artifact store runs: the model's `network_model.py` (logged for MLflow's
    own serving) is never imported; the network is built by the installed package from
    `network.json` and the `state_dict` in `weights.pt` (`torch.load(weights_only=True)`).

    Raises:
        UserInputError: the logged model lacks its weights or config.
    """
    import mlflow
    import torch
    import yaml

    from cnnlstm.models.modules import classifier_from_state

    folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
    flavor = yaml.safe_load((folder / "MLmodel").read_text()).get("flavors", {})
    artifacts = flavor.get("python_function", {}).get("artifacts", {})
    paths = {name: folder / str(artifacts.get(name, {}).get("path", "")) for name in artifacts}
    weights, config = paths.get("weights"), paths.get("network")
    if weights is None or config is None or not (weights.is_file() and config.is_file()):
        raise UserInputError(f"model {model_uri} holds no weights.pt and network.json to load")
    for path in (weights, config):  # inside the downloaded model, never a path it points at
        if not path.resolve().is_relative_to(folder.resolve()):
            raise UserInputError(f"model {model_uri} names a file outside itself: {path}")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    return classifier_from_state(json.loads(config.read_text()), state)


def run_link(run_id: str) -> str:
    """A URL of the run in the MLflow UI (`MLFLOW_UI_URL` for local stores, default :5000)."""
    import mlflow

    uri = tracking_uri()
    base = (
        uri
        if not _is_local_store(uri)
        else os.environ.get("MLFLOW_UI_URL", "http://127.0.0.1:5000")
    )
    experiment_id = mlflow.get_run(run_id).info.experiment_id
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
