"""The research backtest flow: ingest, validate, features, training, strategies, report, MLflow.

The chain: ingest -> validate -> features -> train CNN and LSTM (per seed) -> select -> signals
-> backtest (with cost sensitivity) -> report over the seeds -> MLflow (parent + child runs).

Input contract: one `ResearchParams` (the Prefect UI renders it as a form) and an optional
`out_dir` that receives Table 2, `metrics.json`, `seeds.csv`, the figures and the ledger. With
`params.seeds`, each seed trains its own CNN and LSTM (cached stages of their own, submitted to
the flow's task runner), is selected, timed and backtested on its own, and a seed ensemble
(mean CNN scores, mean LSTM P(up)) is backtested beside them. The chain is
`flows.stages.research.run_research` over one fold, the one the walk-forward flow runs over
its months. It only chains cached stages: a second identical run takes its results from the
cache, a changed LSTM parameter re-runs only LSTM training and what follows, and a run that
failed mid-way resumes from the last stage that finished.
"""

from __future__ import annotations

from prefect import flow
from prefect.logging import get_run_logger

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.checks import check_inputs, check_tracking, refuse, validated
from cnnlstm.flows.params import ResearchParams
from cnnlstm.flows.runners import TaskRunnerConfig, build_task_runner
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import research_span
from cnnlstm.flows.stages.publish import BACKTEST_KEYS, publish_research
from cnnlstm.flows.stages.research import Plan, ResearchOutcome, run_research


class BacktestOutcome(ResearchOutcome):
    """What a backtest run produced and which stages it computed."""


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
    Each seed's trainings go to the flow's task runner (one worker by default: overlapping
    trainings share torch's random state; `backtest_flow.with_options(task_runner=...)` runs
    them concurrently).
    """
    try:
        params = validated(ResearchParams, params)
        check_inputs(params.data)
        check_tracking(params.tracking)
    except UserInputError as err:
        return refuse(err)
    run = StageRunner(refresh=params.refresh)
    plan = Plan.single(params.protocol, research_span(params.protocol))  # look-back included
    result = run_research(run, params, plan, config=params, out_dir=out_dir, flow_name="backtest")
    summary, first = result.files.summary, result.runs[0]
    publish_research(
        BACKTEST_KEYS, summary, first.selections.cnn.read_table(), run, result.tracked, out_dir
    )
    get_run_logger().info(
        f"stages computed: {run.ran() or 'none'}; from cache: {run.cached() or 'none'}"
    )
    return BacktestOutcome.of(result, run, out_dir)
