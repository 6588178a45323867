"""The MLflow stage: a parent run per research backtest and a child run per training seed.

Input contract: the flow's `ResearchParams`, each seed's `SeedRun` (networks, backtest) and the
report (`ReportFiles`). The parent run gets every parameter (flattened), the report's metrics
per strategy as means over the seeds (`cnn_lstm.sharpe`, `benchmark.max_drawdown`, ...), the
number of trials behind the deflated Sharpe ratio (`dsr.n_trials`), the caveats as tags
(`caveat.<code>`), Table 2, `metrics.json`, `seeds.csv`, the figures, the first seed's trade
ledger and daily values, its networks' per-epoch curves and best-epoch metrics, and those
networks registered, each checkpoint once (`tracking.register_checkpoint`: alias `challenger`;
`champion` by the promotion rule). Each seed's child run holds that seed's metrics, curves
and daily values, tagged with its trial key (`cnnlstm.trial`, see `count_trials`).

The stage is cached like the others (its key holds the tracking URI): re-running an identical
backtest points at the MLflow run already logged instead of logging a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict

from cnnlstm.core.files import write_atomic
from cnnlstm.core.paths import data_home
from cnnlstm.flows.export import effective_config
from cnnlstm.flows.lineage import lineage_of
from cnnlstm.flows.params import ResearchParams
from cnnlstm.flows.stages.cache import stage_task
from cnnlstm.flows.stages.strategy import ReportFiles, SeedRun
from cnnlstm.flows.stages.training import TrainedRef
from cnnlstm.infra import tracking


class TrackedRun(BaseModel):
    """Where a backtest was recorded."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    experiment: str
    tracking_uri: str
    link: str
    models: dict[str, str]  # registered name -> version
    promoted: bool
    tear_sheet: str | None = None  # where the run's report.html opens (a URL)


def report_metrics(metrics: dict) -> dict[str, float]:
    """The report's numbers as flat MLflow metrics: `<strategy>.<metric>`, `cnn.*`, `lstm.*`."""
    out = tracking.numeric_metrics(metrics.get("strategies", {}))
    for network in ("cnn", "lstm"):
        if metrics.get(network):
            out.update(tracking.numeric_metrics(metrics[network], prefix=f"{network}_oos"))
    for section in ("nulls", "deciles", "qlib"):  # baselines and field-comparable numbers
        if metrics.get(section):
            out.update(tracking.numeric_metrics(metrics[section], prefix=section))
    return out


def _log_named_files(files: dict, artifact_dir: str) -> None:
    """Log report artifacts under their original names (they are stored by fingerprint)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for ref in files.values():
            target = Path(tmp) / ref.meta.get("name", Path(ref.path).name)
            shutil.copyfile(ref.local_path(), target)
            paths.append(target)
        tracking.log_files(paths, artifact_dir)


def trial_keys(params: ResearchParams, seeds: tuple[int, ...]) -> list[str]:
    """One key per trial this run makes: its configuration (tracking aside) and seed."""
    config = params.model_dump_json(exclude={"refresh", "tracking", "seeds"})
    return [hashlib.sha256(f"{config}|seed={s}".encode()).hexdigest()[:16] for s in seeds]


def count_trials(experiment: str, keys: list[str]) -> int:
    """Distinct trials in the MLflow experiment, this run's `keys` included (for the DSR).

    A trial is one (configuration, seed) backtested: each seed's child run carries its key as
    tag `cnnlstm.trial`; a non-parent run without one counts once; parent
    runs are not trials. Re-running an identical configuration adds no trial.

    With a local SQLite store the experiment's trials are remembered beside the stage caches
    with the store's stamp (`tracking.store_stamp`): while the database is unwritten the
    remembered set is the answer and MLflow is not even imported (a fully cached re-run does
    not wait for it). Any write to the store, by this project or anyone, changes the stamp.
    """
    uri = tracking.tracking_uri()
    stamp = tracking.store_stamp(uri)
    memo = (
        data_home()
        / "cache"
        / "trials"
        / (hashlib.sha256(f"{uri}|{experiment}".encode()).hexdigest()[:16] + ".json")
    )
    found = _remembered_trials(memo, stamp)
    if found is None:
        found = experiment_trials(experiment)
        if stamp is not None:
            _remember_trials(memo, stamp, found)
    return len(found | set(keys))


def experiment_trials(experiment: str) -> set[str]:
    """The trial keys (or run ids) of the experiment's non-parent runs, from MLflow."""
    from mlflow import MlflowClient

    tracking.configure()
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return set()
    seen = set()
    for run in client.search_runs([found.experiment_id], max_results=50_000):
        tags = run.data.tags
        if tags.get("cnnlstm.kind") == "parent":
            continue
        seen.add(tags.get("cnnlstm.trial") or run.info.run_id)
    return seen


def _remember_trials(memo: Path, stamp: str, trials: set[str]) -> None:
    memo.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(memo, json.dumps({"stamp": stamp, "trials": sorted(trials)}))  # never torn


def _remembered_trials(memo: Path, stamp: str | None) -> set[str] | None:
    if stamp is None or not memo.exists():
        return None
    try:
        saved = json.loads(memo.read_text())
    except (OSError, ValueError):
        return None  # unreadable: ask MLflow again (and rewrite it)
    if saved.get("stamp") != stamp:
        return None
    return set(saved.get("trials", []))


def caveat_tags(metrics: dict) -> dict[str, str]:
    """MLflow tags `caveat.<code>` (message, at most 500 characters) of the report's caveats."""
    return {f"caveat.{c['code']}": c["message"][:500] for c in metrics.get("caveats", [])}


#: The tear sheet's path among the run's artifacts.
TEAR_SHEET = "report/report.html"


def artifact_url(uri: str, run_id: str, artifact_uri: str, path: str) -> str:
    """A URL that opens one artifact of a run: the server's `get-artifact`, or a local file."""
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/get-artifact?path={quote(path)}&run_uuid={run_id}"
    return f"{artifact_uri.rstrip('/')}/{path}"


class PrefectOrigin(BaseModel):
    """The Prefect flow run a stage runs in: the MLflow run's link back and its start."""

    model_config = ConfigDict(frozen=True)

    tags: dict[str, str] = {}
    start_time: float | None = None  # seconds since the epoch


def prefect_origin() -> PrefectOrigin:
    """Tags `prefect.flow_run_id` / `prefect.flow_run_url` and the start of the current flow run.

    Outside a flow run (a stage called as a plain function): no tags, no start.
    """
    from prefect.context import FlowRunContext
    from prefect.runtime import flow_run

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return PrefectOrigin()
    tags = {"prefect.flow_run_id": str(context.flow_run.id)}
    url = flow_run.ui_url
    if url:
        tags["prefect.flow_run_url"] = url
    started = context.flow_run.start_time
    return PrefectOrigin(tags=tags, start_time=started.timestamp() if started else None)


#: Sections of the settings that say what data and period a run covers (the dataset part of a
#: run's name says that), not how it was computed.
NAME_EXCLUDES = ("data.", "protocol.", "tracking.", "refresh", "seeds")


def changed_settings(params: ResearchParams) -> dict[str, str]:
    """The settings (dotted paths) that differ from the defaults of the run's profile."""
    base = ResearchParams(data=params.data, protocol=params.protocol, profile=params.profile)
    mine = tracking.flatten(effective_config(params))
    defaults = tracking.flatten(effective_config(base))
    return {
        k: str(v)
        for k, v in mine.items()
        if not k.startswith(NAME_EXCLUDES) and defaults.get(k) != v
    }


#: MLflow keeps run names short; a longer list of changed settings is cut here.
MAX_NAME_CHARS = 200


def readable_name(flow: str, dataset: str, params: ResearchParams) -> str:
    """The run's name: flow, dataset, the settings changed from the defaults, the seeds.

    E.g. `backtest sim-cn-1a2b lstm.hidden=16 (5 seeds)`.
    """
    changed = ", ".join(f"{k}={v}" for k, v in changed_settings(params).items())
    seeds = params.training_seeds()
    parts = [flow, dataset, changed or f"{params.profile} defaults"]
    if len(seeds) > 1:
        parts.append(f"({len(seeds)} seeds)")
    name = " ".join(parts)
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 3] + "..."


# 2: per-dataset registered names, lineage tags; 3: parent run + a child run per seed;
# 4: effective settings, readable names, the Prefect link, one version per checkpoint
@stage_task("track", version=4)
def track(
    params: ResearchParams,
    runs: list[SeedRun],
    report: ReportFiles,
    tracking_uri: str,
    flow: str = "backtest",
) -> TrackedRun:
    """Log the run to MLflow: a parent run and a child run per seed (see the module docstring).

    The first seed's networks are registered under the parent run, which the promotion rule
    judges by its seed-mean metrics.
    """
    metrics = report.metrics.read_json()
    lineage = lineage_of(params.data, params.market, params.protocol)  # the registry's key
    origin = prefect_origin()
    tags = {**parent_tags(params, runs, flow, metrics), "dataset": lineage.dataset, **origin.tags}
    first = runs[0]
    networks = [*first.cnns[:1], *first.lstms[:1]]
    with tracking.tracked_run(
        params.tracking.experiment,
        run_name=readable_name(flow, lineage.dataset, params),
        tags=tags,
        start_time=origin.start_time,
    ) as run:
        _log_parent(params, first, networks, report, metrics)
        keys = trial_keys(params, tuple(int(r.label) for r in runs))
        for seed_run, key in zip(runs, keys, strict=True):
            _log_seed_child(run.info.experiment_id, seed_run, key, metrics)
        models = register_networks(params, networks, lineage)
    cfg = params.tracking
    promoted = bool(models) and tracking.promote_by_rule(models, run.info.run_id, cfg.promotion)
    link = tracking.run_link(run.info.run_id)
    sheet = None
    if "tear_sheet" in report.files:
        sheet = artifact_url(tracking_uri, run.info.run_id, run.info.artifact_uri, TEAR_SHEET)
    get_run_logger().info(
        f"MLflow run {run.info.run_id} ({link}); models {models}; champion: {promoted}"
    )
    return TrackedRun(
        run_id=run.info.run_id,
        experiment=cfg.experiment,
        tracking_uri=tracking_uri,
        link=link,
        models=models,
        promoted=promoted,
        tear_sheet=sheet,
    )


def parent_tags(
    params: ResearchParams, runs: list[SeedRun], flow: str, metrics: dict
) -> dict[str, str]:
    """The parent run's tags: flow, source, profile, seeds and the report's caveats."""
    return {
        "flow": flow,
        "source": params.data.source,
        "profile": params.profile,
        "cnnlstm.kind": "parent",
        "seeds": ",".join(r.label for r in runs),
        **caveat_tags(metrics),
    }


def _log_parent(
    params: ResearchParams,
    first: SeedRun,
    networks: list[TrainedRef],
    report: ReportFiles,
    metrics: dict,
) -> None:
    """The parent run's settings, curves, report metrics and files, ledger and checkpoints."""
    import mlflow

    config = effective_config(params)  # what ran: no `None` for a profile's defaults
    tracking.log_params(config)
    mlflow.log_dict(config, "config.yaml")  # rerun: --config it
    for net in networks:
        tracking.log_history(net.network, net.history)
        tracking.log_metrics(net.metrics, prefix=f"{net.network}_best")
    tracking.log_metrics(report_metrics(metrics))
    tracking.log_metrics({"dsr.n_trials": float(metrics.get("n_trials", 1))})
    _log_named_files(dict(report.files), "report")
    tracking.log_frame(first.backtest.trades.read_table(), "ledger/trades.csv")
    tracking.log_frame(first.backtest.nav.read_table(), "ledger/nav.csv")
    for net in networks:
        tracking.log_files([net.checkpoint.local_path()], f"checkpoints/{net.network}")


def _log_seed_child(experiment_id: str, seed_run: SeedRun, key: str, metrics: dict) -> None:
    """One seed's child run: its metrics, curves (one network per kind) and daily values."""
    import mlflow

    tags = {"cnnlstm.kind": "seed", "cnnlstm.trial": key, "seed": seed_run.label}
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"seed {seed_run.label}", nested=True, tags=tags
    ):
        mlflow.log_param("seed", seed_run.label)
        for net in [*seed_run.cnns, *seed_run.lstms]:
            if len(seed_run.cnns) == 1:  # walk-forward: one curve per month is too many
                tracking.log_history(net.network, net.history)
            tracking.log_metrics(net.metrics, prefix=f"{net.network}_best")
        tracking.log_metrics(report_metrics(metrics["per_seed"].get(seed_run.label, {})))
        tracking.log_frame(seed_run.backtest.nav.read_table(), "ledger/nav.csv")


def register_networks(
    params: ResearchParams, networks: list[TrainedRef], lineage: tracking.Lineage
) -> dict[str, str]:
    """Register `networks` (when the settings ask for it); registered name -> version."""
    cfg = params.tracking
    if not cfg.register_models:
        return {}
    models = {}
    for net in networks:
        registered = tracking.register_checkpoint(
            net.checkpoint,
            tracking.registry_name(cfg.model_prefix, net.network, lineage),
            tags=lineage.tags(),
            window=params.lstm_windows.window,
        )
        models[registered.name] = registered.version
    return models
