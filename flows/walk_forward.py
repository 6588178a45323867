"""The walk-forward flow: retrain the CNN every month and the LSTM every k months, then backtest.

Input contract: `WalkForwardParams`: a `ResearchParams` whose `protocol.test` is the walk-forward
span (its `protocol.train` is ignored), the training window length and the LSTM's retraining
interval, and the task runner. For test month m the CNN trains on the `train_months` months
ending before m; the LSTM of the block starting at month b trains on windows ending before b.
Those trainings do not depend on each other, so they are submitted together and run
concurrently through the flow's task runner (`flows.runners`; local threads by default). Each
month's selection uses that month's CNN, its signals that block's LSTM; the months are chained
into one selection and one signal table, backtested and reported once, and logged to MLflow
(experiment `cnnlstm-walk-forward`, models not registered).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from prefect import flow
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core import months
from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.checks import check_inputs, refuse, validated
from cnnlstm.flows.export import results_writer
from cnnlstm.flows.params import Period, Protocol, ResearchParams
from cnnlstm.flows.runners import TaskRunnerConfig, with_task_runner
from cnnlstm.flows.stages.cache import StageRunner, stage_task
from cnnlstm.flows.stages.data import (
    cnn_features,
    ingest,
    input_fingerprint,
    lstm_windows,
    validate,
)
from cnnlstm.flows.stages.evaluate import (
    report_and_track,
    seeded_configs,
    strategy_run,
    trials_before_training,
)
from cnnlstm.flows.stages.publish import publish_markdown, publish_table, stage_summary
from cnnlstm.flows.stages.strategy import (
    Selections,
    select,
    select_ensemble,
    signals,
    signals_ensemble,
)
from cnnlstm.flows.stages.training import train_cnn_stage, train_lstm_stage
from cnnlstm.infra.artifacts import ArtifactRef, write_table


class WalkForwardParams(BaseModel):
    """What the walk-forward flow takes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    research: ResearchParams = Field(
        default_factory=lambda: ResearchParams(
            tracking={"experiment": "cnnlstm-walk-forward", "register_models": False}
        ),
        description="data, stage configs, market; protocol.test is the walk-forward span",
    )
    train_months: int = Field(84, ge=3, description="months of history each CNN trains on")
    lstm_every: int = Field(3, ge=1, description="retrain the LSTM every k months")
    task_runner: TaskRunnerConfig = Field(
        default_factory=TaskRunnerConfig, description="where independent months run"
    )


def month_starts(span: Period) -> list[date]:
    """First days of the months that start inside `span`."""
    return months.month_starts(span.start, span.end)


def history_before(month: date, n_months: int) -> Period:
    """The `n_months` months ending the day before `month`."""
    return Period(start=months.add_months(month, -n_months), end=month - timedelta(days=1))


def month_period(month: date, span_end: date) -> Period:
    """Month `month` as a test period (cut at the span's end)."""
    return Period(start=month, end=min(months.month_end(month), span_end))


@stage_task("chain_months", version=1)
def chain_months(parts: list[Selections], signal_parts: list[ArtifactRef]) -> tuple:
    """Concatenate the months' selections and signals into one of each."""

    def concat(refs: list[ArtifactRef]) -> ArtifactRef:
        return write_table(pl.concat([r.read_table() for r in refs]), "chain_months")

    selections = Selections(
        scores=concat([p.scores for p in parts]),
        cnn=concat([p.cnn for p in parts]),
        momentum=concat([p.momentum for p in parts]),
        universe=concat([p.universe for p in parts]),
    )
    signal_table = pl.concat([s.read_table() for s in signal_parts]).unique(
        ["symbol", "date"], keep="last", maintain_order=True
    )
    return selections, write_table(signal_table, "chain_months")


@flow(name="walk_forward", description="Walk-forward: monthly CNN, k-monthly LSTM retraining.")
def walk_forward_inner(params: WalkForwardParams, out_dir: str | None = None) -> dict:
    """The walk-forward chain (runs on the task runner `walk_forward_flow` chose)."""
    logger = get_run_logger()
    research = params.research
    span = research.protocol.test
    months = month_starts(span)
    first = months[0]
    run = StageRunner(refresh=research.refresh)
    earliest = history_before(first, params.train_months)
    protocol = Protocol(
        train=earliest,
        test=span,
        execution=research.protocol.execution,
        hold_days=research.protocol.hold_days,
    )
    n_trials = trials_before_training(research, protocol)  # before training: see evaluate
    ingested = run(ingest, research.data, input_fingerprint(research.data), None, research.market)
    dataset = run(validate, ingested, protocol, research.data)
    features = run(cnn_features, dataset.bars, research.cnn_features, dataset.universe)

    # independent trainings (every seed, month and block): submitted together, run on the
    # task runner (concurrently where it has more than one worker)
    configs = seeded_configs(research)

    def seed_tag(seed: int | str) -> str:  # stage labels as before when no seeds are asked for
        return "" if research.seeds is None else f" seed {seed}"

    blocks = months[:: params.lstm_every]
    window_futures = {
        b: run.submit(
            lstm_windows,
            dataset.bars,
            research.lstm_window_config(),
            history_before(b, params.train_months),
        )
        for b in blocks
    }
    cnn_futures, lstm_futures = {}, {}
    for seed, (cnn_cfg, lstm_cfg) in configs.items():
        for m in months:
            cnn_futures[seed, m] = run.submit(
                train_cnn_stage, features, cnn_cfg, history_before(m, params.train_months)
            )
        for b, f in window_futures.items():
            lstm_futures[seed, b] = run.submit(train_lstm_stage, f, lstm_cfg)
    # Every training finishes before any model is used: loading a checkpoint builds a module,
    # which draws from torch's global random generator, and doing that here while a pool thread
    # trains would change that training's dropout masks, so runs would not repeat.
    cnns = {
        k: run.collect(f, f"train_cnn {k[1]:%Y-%m}{seed_tag(k[0])}") for k, f in cnn_futures.items()
    }
    lstms = {
        k: run.collect(f, f"train_lstm {k[1]:%Y-%m}{seed_tag(k[0])}")
        for k, f in lstm_futures.items()
    }
    window = research.lstm_window_config()

    def chained(tag: str, pick_cnns, pick_lstms) -> tuple[Selections, ArtifactRef]:
        parts, signal_parts = [], []
        for i, month in enumerate(months):
            test = month_period(month, span.end)
            block = blocks[i // params.lstm_every]
            label = f"{month:%Y-%m}{tag}"
            picker, timer = (
                (select_ensemble, signals_ensemble) if tag == " ensemble" else (select, signals)
            )
            picks = run(
                picker, features, pick_cnns(month), research.selection, test,
                label=f"select {label}",
            )  # fmt: skip
            timing = run(
                timer, dataset, picks, pick_lstms(block), window, test, label=f"signals {label}"
            )
            parts.append(picks)
            signal_parts.append(timing)
        return run(chain_months, parts, signal_parts, label=f"chain_months{tag}")

    runs = []
    for seed in configs:
        picks, timing = chained(
            seed_tag(seed), lambda m, s=seed: cnns[s, m], lambda b, s=seed: lstms[s, b]
        )
        runs.append(
            strategy_run(
                run,
                research,
                dataset,
                str(seed),
                picks,
                timing,
                [cnns[seed, m] for m in months],
                [lstms[seed, b] for b in blocks],
                protocol=protocol,
            )
        )
    ensemble = None
    if len(configs) > 1:
        picks, timing = chained(
            " ensemble",
            lambda m: [cnns[s, m] for s in configs],
            lambda b: [lstms[s, b] for s in configs],
        )
        ensemble = strategy_run(
            run, research, dataset, "ensemble", picks, timing, [], [], protocol=protocol
        )

    write_out = results_writer(out_dir, run=run, params=params, first=runs[0])
    files, tracked = report_and_track(
        run, research, ingested, dataset, protocol, runs, ensemble, flow_name="walk_forward",
        before_tracking=write_out, n_trials=n_trials,
    )  # fmt: skip
    publish_markdown(
        files.summary or files.markdown, "walk-forward-table2", "Table 2 of the walk-forward test"
    )
    publish_table(
        runs[0].selections.cnn.read_table(), "walk-forward-selection", "CNN selection per month"
    )
    publish_markdown(
        stage_summary(run.states, run.seconds), "walk-forward-stages", "Stages run or cached"
    )
    logger.info(f"walk-forward over {len(months)} months, LSTM retrained {len(blocks)} times")
    return {
        "table2": files.markdown,
        "summary": files.summary,
        "months": len(months),
        "lstm_trainings": len(blocks),
        "seeds": list(configs),
        "stages": dict(run.states),
        "mlflow_run": None if tracked is None else tracked.run_id,
        "report": files.model_dump(mode="json"),
    }


@flow(
    name="walk_forward_run",
    description="Walk-forward backtest on the chosen task runner.",
    validate_parameters=False,  # the first step validates them: one error line (flows/checks.py)
)
def walk_forward_flow(
    params: WalkForwardParams = WalkForwardParams(),  # noqa: B008
    out_dir: str | None = None,
) -> dict:
    """Run the walk-forward chain as a subflow on `params.task_runner` (report into `out_dir`).

    Bad settings or inputs end the run at once with one `error:` line (`flows/checks.py`).
    """
    try:
        params = validated(WalkForwardParams, params)
        check_inputs(params.research.data)
    except UserInputError as err:
        return refuse(err)
    return with_task_runner(walk_forward_inner, params.task_runner)(params, out_dir)
