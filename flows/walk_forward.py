"""The walk-forward flow: retrain the CNN every month and the LSTM every k months, then backtest.

Input contract: `WalkForwardParams`: a `ResearchParams` whose `protocol.test` is the walk-forward
span (its `protocol.train` is ignored), the training window length and the LSTM's retraining
interval, and the task runner. For test month m the CNN trains on the `train_months` months
ending before m; the LSTM of the block starting at month b trains on windows ending before b.
Those trainings do not depend on each other, so they are submitted together and run
concurrently through the flow's task runner (`flows.runners`; local threads by default). Each
month's selection uses that month's CNN, its signals that block's LSTM; the months are chained
into one selection and one signal table, backtested and reported once, and logged to MLflow
(experiment `cnnlstm-walk-forward`, models not registered). The chain is the backtest's
(`flows.stages.research.run_research`) over a fold per month.
"""

from __future__ import annotations

from datetime import date, timedelta

from prefect import flow
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core import months
from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.checks import check_inputs, check_tracking, refuse, validated
from cnnlstm.flows.params import Period, Protocol, ResearchParams
from cnnlstm.flows.runners import TaskRunnerConfig, with_task_runner
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.publish import WALK_FORWARD_KEYS, publish_research
from cnnlstm.flows.stages.research import (
    Block,
    Fold,
    Plan,
    ResearchOutcome,
    run_research,
)


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


def walk_forward_plan(params: WalkForwardParams) -> Plan:
    """A fold per month of the span and an LSTM block every `lstm_every` months.

    Each month's CNN trains on the `train_months` months before it; each block's LSTM on the
    windows that end before the block's first month.
    """
    research = params.research
    span = research.protocol.test
    starts = month_starts(span)
    blocks = [
        Block(name=f"{b:%Y-%m}", train=history_before(b, params.train_months))
        for b in starts[:: params.lstm_every]
    ]
    folds = [
        Fold(
            name=f"{m:%Y-%m}",
            test=month_period(m, span.end),
            cnn_train=history_before(m, params.train_months),
            block=i // params.lstm_every,
        )
        for i, m in enumerate(starts)
    ]
    protocol = Protocol(
        train=history_before(starts[0], params.train_months),
        test=span,
        execution=research.protocol.execution,
        hold_days=research.protocol.hold_days,
    )
    return Plan(protocol=protocol, ingest_span=None, folds=folds, blocks=blocks)


class WalkForwardOutcome(ResearchOutcome):
    """What a walk-forward run produced: the backtest's outcome, its months and LSTM blocks."""

    months: int
    lstm_trainings: int  # per seed


@flow(name="walk_forward", description="Walk-forward: monthly CNN, k-monthly LSTM retraining.")
def walk_forward_inner(params: WalkForwardParams, out_dir: str | None = None) -> WalkForwardOutcome:
    """The walk-forward chain (runs on the task runner `walk_forward_flow` chose)."""
    research = params.research
    run = StageRunner(refresh=research.refresh)
    plan = walk_forward_plan(params)
    result = run_research(
        run, research, plan, config=params, out_dir=out_dir, flow_name="walk_forward"
    )
    summary, first = result.files.summary or result.files.markdown, result.runs[0]
    publish_research(
        WALK_FORWARD_KEYS, summary, first.selections.cnn.read_table(), run, result.tracked, out_dir
    )
    n_months, n_blocks = len(plan.folds), len(plan.blocks)
    get_run_logger().info(f"walk-forward over {n_months} months, LSTM retrained {n_blocks} times")
    return WalkForwardOutcome.of(result, run, out_dir, months=n_months, lstm_trainings=n_blocks)


@flow(
    name="walk_forward_run",
    description="Walk-forward backtest on the chosen task runner.",
    validate_parameters=False,  # the first step validates them: one error line (flows/checks.py)
)
def walk_forward_flow(
    params: WalkForwardParams = WalkForwardParams(),  # noqa: B008
    out_dir: str | None = None,
) -> WalkForwardOutcome:
    """Run the walk-forward chain as a subflow on `params.task_runner` (report into `out_dir`).

    Bad settings or inputs end the run at once with one `error:` line (`flows/checks.py`).
    """
    try:
        params = validated(WalkForwardParams, params)
        check_inputs(params.research.data)
        check_tracking(params.research.tracking)
    except UserInputError as err:
        return refuse(err)
    return with_task_runner(walk_forward_inner, params.task_runner)(params, out_dir)
