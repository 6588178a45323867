"""The research backtest flow: ingest, validate, features, training, strategies, report, MLflow.

The chain: ingest -> validate -> features -> train CNN and LSTM -> select -> signals -> backtest
-> report -> MLflow.

Input contract: one `ResearchParams` (the Prefect UI renders it as a form) and an optional
`out_dir` that receives Table 2, `metrics.json`, the figures and the ledger. The flow only chains
the cached stages of `flows/stages.py`, `flows/model_stages.py`, `flows/strategy_stages.py` and
`flows/track.py`; a second identical run takes its results from the cache, a changed LSTM
parameter re-runs only LSTM training and what follows, and a run that failed mid-way resumes
from the last stage that finished.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from prefect import flow
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.flows.params import ResearchParams
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import (
    cnn_features,
    ingest,
    input_fingerprint,
    lstm_windows,
    validate,
)
from cnnlstm.flows.stages.publish import (
    publish_link,
    publish_markdown,
    publish_table,
    stage_summary,
)
from cnnlstm.flows.stages.strategy import ReportFiles, backtest, report, select, signals
from cnnlstm.flows.stages.track import TrackedRun, track
from cnnlstm.flows.stages.training import TrainedRef, train_cnn_stage, train_lstm_stage
from cnnlstm.infra.tracking import tracking_uri


class BacktestOutcome(BaseModel):
    """What a backtest run produced and which stages it computed."""

    model_config = ConfigDict(frozen=True)

    table2: str
    report: ReportFiles
    networks: list[TrainedRef]
    tracked: TrackedRun | None
    stages: dict[str, str]
    seconds: dict[str, float] = Field(default_factory=dict)
    out_dir: str | None = None


@flow(name="backtest", description="Research backtest of CNN selection + LSTM timing.")
def backtest_flow(
    params: ResearchParams = ResearchParams(),  # noqa: B008 - frozen model: a safe default
    out_dir: str | None = None,
) -> BacktestOutcome:
    """Run the research protocol and report it (Table 2, figures, MLflow run)."""
    logger = get_run_logger()
    run = StageRunner(refresh=params.refresh)
    protocol = params.protocol
    ingested = run(ingest, params.data, input_fingerprint(params.data))
    dataset = run(validate, ingested, protocol)
    features = run(cnn_features, dataset.bars, params.cnn_features)
    windows = run(lstm_windows, dataset.bars, params.lstm_window_config(), protocol.train)
    cnn = run(train_cnn_stage, features, params.cnn_config(), protocol.train)
    lstm = run(train_lstm_stage, windows, params.lstm_config())
    picks = run(select, features, cnn, params.selection, protocol.test)
    timing = run(signals, dataset, picks, lstm, params.lstm_window_config(), protocol.test)
    market = params.market_config()
    result = run(backtest, dataset, picks, timing, market, protocol)
    files = run(report, dataset, picks, timing, result, protocol, market, params.report)
    tracked = None
    if params.tracking.enabled:
        logged = params.model_copy(update={"refresh": False})  # not part of what a run is
        tracked = run(track, logged, [cnn, lstm], result, files, tracking_uri())

    publish_markdown(files.markdown, "table2", "Table 2: the strategies over the test period")
    publish_table(picks.cnn.read_table(), "cnn-selection", "CNN selection per test month")
    publish_markdown(
        stage_summary(run.states, run.seconds), "stages", "Stages computed or taken from cache"
    )
    if tracked is not None:
        publish_link(tracked.link, "mlflow-run", f"MLflow run {tracked.run_id}")
    if out_dir:
        export(files, result, Path(out_dir))
    logger.info(f"stages computed: {run.ran() or 'none'}; from cache: {run.cached() or 'none'}")
    return BacktestOutcome(
        table2=files.markdown,
        report=files,
        networks=[cnn, lstm],
        tracked=tracked,
        stages=dict(run.states),
        seconds=dict(run.seconds),
        out_dir=out_dir,
    )


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
