"""The MLflow stage: one run per research backtest, holding everything needed to compare runs.

Input contract: the flow's `ResearchParams`, the trained networks (`TrainedRef`), the backtest
(`Backtest`) and the report (`ReportFiles`). The run gets every parameter (flattened), both
networks' per-epoch curves (`cnn/...`, `lstm/...` with step = epoch), their best-epoch metrics,
the report's metrics per strategy (`cnn_lstm.sharpe`, `benchmark.max_drawdown`, ...), Table 2,
`metrics.json`, the figures, the trade ledger and the daily net values, and both networks as
registered MLflow PyTorch models (alias `challenger`; `champion` by the promotion rule).

The stage is cached like the others (its key holds the tracking URI): re-running an identical
backtest points at the MLflow run already logged instead of logging a duplicate.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict

from cnnlstm.flows.lineage import lineage_of
from cnnlstm.flows.params import ResearchParams
from cnnlstm.flows.stages.cache import stage_task
from cnnlstm.flows.stages.strategy import Backtest, ReportFiles
from cnnlstm.flows.stages.training import TrainedRef
from cnnlstm.infra import tracking
from cnnlstm.tasks.train_loop import load_classifier


class TrackedRun(BaseModel):
    """Where a backtest was recorded."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    experiment: str
    tracking_uri: str
    link: str
    models: dict[str, str]  # registered name -> version
    promoted: bool


def report_metrics(metrics: dict) -> dict[str, float]:
    """The report's numbers as flat MLflow metrics: `<strategy>.<metric>`, `cnn.*`, `lstm.*`."""
    out = tracking.numeric_metrics(metrics.get("strategies", {}))
    for network in ("cnn", "lstm"):
        if metrics.get(network):
            out.update(tracking.numeric_metrics(metrics[network], prefix=f"{network}_oos"))
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


def input_example(network: str, window: int) -> np.ndarray:
    """A zero batch of two inputs: (2, 1, 32) for the CNN, (2, window, 6) for the LSTM."""
    shape = (2, 1, 32) if network == "cnn" else (2, window, 6)
    return np.zeros(shape, dtype=np.float32)


@stage_task("track", version=2)  # 2: per-dataset registered names, lineage tags
def track(
    params: ResearchParams,
    networks: list[TrainedRef],
    result: Backtest,
    report: ReportFiles,
    tracking_uri: str,
) -> TrackedRun:
    """Log the backtest to MLflow, register both networks and apply the promotion rule."""
    logger = get_run_logger()
    cfg = params.tracking
    tags = {"flow": "backtest", "source": params.data.source, "profile": params.profile}
    models: dict[str, str] = {}
    lineage = lineage_of(params.data, params.market, params.protocol)  # the registry's key
    tags["dataset"] = lineage.dataset
    with tracking.tracked_run(cfg.experiment, tags=tags) as run:
        tracking.log_params(params)
        for net in networks:
            tracking.log_history(net.network, net.history)
            tracking.log_metrics(net.metrics, prefix=f"{net.network}_best")
        tracking.log_metrics(report_metrics(report.metrics.read_json()))
        files = dict(report.files)
        _log_named_files(files, "report")
        tracking.log_frame(result.trades.read_table(), "ledger/trades.csv")
        tracking.log_frame(result.nav.read_table(), "ledger/nav.csv")
        for net in networks:
            tracking.log_files([net.checkpoint.local_path()], f"checkpoints/{net.network}")
            if cfg.register_models:
                registered = tracking.log_network(
                    load_classifier(net.checkpoint.local_path()),
                    name=net.network,
                    registered_name=tracking.registry_name(cfg.model_prefix, net.network, lineage),
                    tags=lineage.tags(),
                    input_example=input_example(net.network, params.lstm_windows.window),
                )
                models[registered.name] = registered.version
    promoted = False
    if models:
        promoted = tracking.promote_by_rule(list(models), run.info.run_id, cfg.promotion)
    link = tracking.run_link(run.info.run_id)
    logger.info(f"MLflow run {run.info.run_id} ({link}); models {models}; champion: {promoted}")
    return TrackedRun(
        run_id=run.info.run_id,
        experiment=cfg.experiment,
        tracking_uri=tracking_uri,
        link=link,
        models=models,
        promoted=promoted,
    )
