"""The research backtest flow: ingest, validate, features, training, strategies, report, MLflow.

The chain: ingest -> validate -> features -> train CNN and LSTM (per seed) -> select -> signals
-> backtest (with cost sensitivity) -> report over the seeds -> MLflow (parent + child runs).

Input contract: one `ResearchParams` (the Prefect UI renders it as a form) and an optional
`out_dir` that receives Table 2, `metrics.json`, `seeds.csv`, the figures and the ledger. With
`params.seeds`, each seed trains its own CNN and LSTM (cached stages of their own, submitted to
the flow's task runner), is selected, timed and backtested on its own, and a seed ensemble
(mean CNN scores, mean LSTM P(up)) is backtested beside them; the tail (report over seeds,
MLflow) is `flows.stages.evaluate.report_and_track`, shared with the walk-forward flow. The flow
only chains cached stages: a second identical run takes its results from the cache, a changed
LSTM parameter re-runs only LSTM training and what follows, and a run that failed mid-way
resumes from the last stage that finished.
"""

from __future__ import annotations

from prefect import flow
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.checks import check_inputs, refuse, validated
from cnnlstm.flows.export import results_writer
from cnnlstm.flows.params import ResearchParams
from cnnlstm.flows.runners import TaskRunnerConfig, build_task_runner
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import (
    cnn_features,
    ingest,
    input_fingerprint,
    lstm_windows,
    research_span,
    validate,
)
from cnnlstm.flows.stages.evaluate import (  # noqa: F401 - export: the flows' --out copy
    export,
    report_and_track,
    seeded_configs,
    strategy_run,
    trials_before_training,
)
from cnnlstm.flows.stages.publish import (
    publish_link,
    publish_markdown,
    publish_table,
    stage_summary,
    tear_sheet_links,
)
from cnnlstm.flows.stages.strategy import (
    ReportFiles,
    select,
    select_ensemble,
    signals,
    signals_ensemble,
)
from cnnlstm.flows.stages.track import TrackedRun
from cnnlstm.flows.stages.training import TrainedRef, train_cnn_stage, train_lstm_stage


class BacktestOutcome(BaseModel):
    """What a backtest run produced and which stages it computed."""

    model_config = ConfigDict(frozen=True)

    table2: str  # the full report (markdown)
    summary: str  # its one-screen form: caveats, Table 2, the comparisons that decide
    report: ReportFiles
    networks: list[TrainedRef]
    tracked: TrackedRun | None
    stages: dict[str, str]
    seconds: dict[str, float] = Field(default_factory=dict)
    peak_rss_mib: dict[str, float] = Field(default_factory=dict)
    """Each stage's peak resident memory of the flow's process (MiB; `cnnlstm.core.memory`)."""
    out_dir: str | None = None


@flow(
    name="backtest",
    description="Research backtest of CNN selection + LSTM timing.",
    task_runner=build_task_runner(TaskRunnerConfig()),  # one worker: reproducible trainings
    validate_parameters=False,  # the first step validates them: one error line (flows/checks.py)
)
def backtest_flow(
    params: ResearchParams = ResearchParams(),  # noqa: B008 - frozen model: a safe default
    out_dir: str | None = None,
) -> BacktestOutcome:
    """Run the research protocol and report it (Table 2 over seeds, figures, MLflow runs).

    Bad settings or inputs end the run at once with one `error:` line (`flows/checks.py`).
    """
    logger = get_run_logger()
    try:
        params = validated(ResearchParams, params)
        check_inputs(params.data)
    except UserInputError as err:
        return refuse(err)
    run = StageRunner(refresh=params.refresh)
    protocol = params.protocol
    n_trials = trials_before_training(params, protocol)  # the last thing asked of MLflow pre-out
    span = research_span(protocol)  # look-back included: nothing outside it is read
    ingested = run(ingest, params.data, input_fingerprint(params.data), span, params.market)
    dataset = run(validate, ingested, protocol, params.data)
    features = run(cnn_features, dataset.bars, params.cnn_features, dataset.universe)
    windows = run(lstm_windows, dataset.bars, params.lstm_window_config(), protocol.train)
    # each seed's trainings are submitted to the flow's task runner (one worker by default:
    # overlapping trainings share torch's random state; `backtest_flow.with_options(
    # task_runner=...)` runs them concurrently) and all finish before any network is used
    futures = {}
    for seed, (cnn_cfg, lstm_cfg) in seeded_configs(params).items():
        futures[seed] = (
            run.submit(train_cnn_stage, features, cnn_cfg, protocol.train),
            run.submit(train_lstm_stage, windows, lstm_cfg),
        )
    trained = {}
    for seed, (cnn_future, lstm_future) in futures.items():
        tag = "" if params.seeds is None else f" seed {seed}"
        trained[seed] = (
            run.collect(cnn_future, f"train_cnn{tag}"),
            run.collect(lstm_future, f"train_lstm{tag}"),
        )
    runs = []
    for seed, (cnn, lstm) in trained.items():
        tag = "" if params.seeds is None else f" seed {seed}"
        picks = run(select, features, cnn, params.selection, protocol.test, label=f"select{tag}")
        timing = run(
            signals,
            dataset,
            picks,
            lstm,
            params.lstm_window_config(),
            protocol.test,
            label=f"signals{tag}",
        )
        runs.append(strategy_run(run, params, dataset, str(seed), picks, timing, [cnn], [lstm]))
    ensemble = None
    if len(trained) > 1:
        cnns = [c for c, _ in trained.values()]
        lstms = [x for _, x in trained.values()]
        picks = run(select_ensemble, features, cnns, params.selection, protocol.test)
        timing = run(
            signals_ensemble, dataset, picks, lstms, params.lstm_window_config(), protocol.test
        )
        ensemble = strategy_run(run, params, dataset, "ensemble", picks, timing, [], [])

    write_out = results_writer(out_dir, run=run, params=params, first=runs[0])
    files, tracked = report_and_track(
        run,
        params,
        ingested,
        dataset,
        protocol,
        runs,
        ensemble,
        before_tracking=write_out,
        n_trials=n_trials,
    )

    publish_markdown(files.summary, "table2", "Table 2: the strategies over the test period")
    publish_table(runs[0].selections.cnn.read_table(), "cnn-selection", "CNN selection per month")
    publish_markdown(
        stage_summary(run.states, run.seconds), "stages", "Stages computed or taken from cache"
    )
    if tracked is not None:
        publish_link(tracked.link, "mlflow-run", f"MLflow run {tracked.run_id}")
    publish_markdown(tear_sheet_links(out_dir, tracked), "tear-sheet", "The run's tear sheet")
    logger.info(f"stages computed: {run.ran() or 'none'}; from cache: {run.cached() or 'none'}")
    return BacktestOutcome(
        table2=files.markdown,
        summary=files.summary,
        report=files,
        networks=[n for cnn, lstm in trained.values() for n in (cnn, lstm)],
        tracked=tracked,
        stages=dict(run.states),
        seconds=dict(run.seconds),
        peak_rss_mib=dict(run.peak_rss_mib),
        out_dir=out_dir,
    )
