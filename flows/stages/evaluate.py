"""The evaluation tail both research flows share: per-seed backtests, the report, MLflow.

Input contract: a flow's `StageRunner`, its `ResearchParams`, the ingest and validate stages'
outputs, and per seed the selection and signals it produced (`strategy_run` backtests them with
the cost sensitivity into a `SeedRun`). `report_and_track` computes the report over the seeds
(with the trials behind the deflated Sharpe ratio counted in the MLflow experiment and the
ingest's quarantine counts as caveat facts) and logs the parent and per-seed MLflow runs.
The research chain (`flows/stages/research.py`) of both research flows calls them.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from cnnlstm.flows.params import Protocol, ResearchParams
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import Dataset, Ingested
from cnnlstm.flows.stages.strategy import (
    ReportFiles,
    RunContext,
    SeedRun,
    Selections,
    backtest,
    report,
)
from cnnlstm.flows.stages.track import TrackedRun, count_trials, track, trial_keys
from cnnlstm.flows.stages.training import TrainedRef
from cnnlstm.infra.artifacts import ArtifactRef
from cnnlstm.infra.tracking import tracking_uri
from cnnlstm.infra.tracking_store import prepare
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig


def seeded_configs(params: ResearchParams) -> dict[int, tuple[CnnTrainConfig, LstmTrainConfig]]:
    """The CNN and LSTM training configs of each seed (`params.seeds`; none: as configured)."""
    cnn, lstm = params.cnn_config(), params.lstm_config()
    if params.seeds is None:
        return {cnn.seed: (cnn, lstm)}
    return {
        s: (cnn.model_copy(update={"seed": s}), lstm.model_copy(update={"seed": s}))
        for s in params.training_seeds()
    }


def strategy_run(
    run: StageRunner,
    params: ResearchParams,
    dataset: Dataset,
    label: str,
    picks: Selections,
    timing: ArtifactRef,
    cnns: list[TrainedRef],
    lstms: list[TrainedRef],
    protocol: Protocol | None = None,
) -> SeedRun:
    """Backtest one seed's (or the ensemble's) selection and signals, with cost sensitivity."""
    protocol = protocol or params.protocol
    tag = "" if params.seeds is None else f" {label}"
    result = run(
        backtest,
        dataset,
        picks,
        timing,
        params.market_config(),
        protocol,
        tuple(params.report.cost_multipliers),
        params.report.nulls,
        label=f"backtest{tag}",
    )
    return SeedRun(
        label=label, selections=picks, signals=timing, backtest=result, cnns=cnns, lstms=lstms
    )


def report_and_track(
    run: StageRunner,
    params: ResearchParams,
    ingested: Ingested,
    dataset: Dataset,
    protocol: Protocol,
    runs: list[SeedRun],
    ensemble: SeedRun | None,
    *,
    flow_name: str = "backtest",
    before_tracking: Callable[[ReportFiles], None] | None = None,
    n_trials: int | None = None,
) -> tuple[ReportFiles, TrackedRun | None]:
    """The tail both research flows share: the report over seeds, then the MLflow runs.

    `before_tracking(files)` runs between the two (the flows write `--out` there, so a tracking
    failure never loses the results). `n_trials`: the flow's `trials_before_training` count
    (None: this run's seeds only).
    """
    seeds = tuple(int(r.label) for r in runs)
    n_trials = len(seeds) if n_trials is None else n_trials
    logged = params.model_copy(update={"refresh": False, "protocol": protocol})
    quarantined, total = ingest_counts(ingested.report.read_json())
    context = RunContext(
        seeds=seeds, n_trials=n_trials, rows_quarantined=quarantined, rows_total=total
    )
    market = params.market_config()
    files = run(report, dataset, runs, ensemble, protocol, market, params.report, context)
    if before_tracking is not None:
        before_tracking(files)
    tracked = None
    if params.tracking.enabled:
        tracked = run(track, logged, runs, files, tracking_uri(), flow_name)
    return files, tracked


def trials_before_training(params: ResearchParams, protocol: Protocol) -> int:
    """The trials behind the deflated Sharpe ratio, counted before anything trains.

    Counted in the MLflow experiment with this run's own trial keys (those its `track` stage
    tags its child runs with) at the flow's start: the count is the last thing the report needs
    from MLflow, so a tracking store that dies mid-run cannot stop the report and `--out` from
    being written. With tracking off it is the number of seeds.
    """
    seeds = tuple(seeded_configs(params))
    if not params.tracking.enabled:
        return len(seeds)
    prepare(tracking_uri())  # a local store: created once, a half-migrated one refused now
    logged = params.model_copy(update={"refresh": False, "protocol": protocol})
    return count_trials(params.tracking.experiment, trial_keys(logged, seeds))


def ingest_counts(summary: dict) -> tuple[int, int]:
    """(rows quarantined, valid rows read) from the ingest stage's summary."""
    if "rows_rejected" in summary:
        return int(summary["rows_rejected"]), int(summary.get("rows", 0))
    rejected = total = 0
    for line in summary.get("lines", []):
        if found := re.match(r"rows rejected: (\d+)", line):
            rejected = int(found.group(1))
        if found := re.match(r"read: \d+ stocks, (\d+) valid rows", line):
            total = int(found.group(1))
    return rejected, total


def export(files: ReportFiles, result, out: Path) -> list[Path]:
    """Copy the report's files (original names) and the ledger into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ref in files.files.values():
        target = out / ref.meta.get("name", Path(ref.path).name)
        shutil.copyfile(ref.local_path(), target)
        written.append(target)
    for name, ref in (("trades.csv", result.trades), ("nav.csv", result.nav)):
        ref.read_table().write_csv(out / name)
        written.append(out / name)
    return written
