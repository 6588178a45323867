"""The sweep flow: the research backtest over a grid of parameters or seeds, compared in MLflow.

Input contract: one `SweepParams` (base `ResearchParams`, a grid of dotted-path overrides and/or
seeds, the task-runner choice, the metrics to compare). Every point of the grid is validated
before anything runs (`flows/sweep_grid.py`), then runs as its own child flow run of `backtest`
(its own MLflow run, its stages cached like any backtest's), submitted as a task to the chosen
Prefect task runner: a thread pool by default, a Dask `LocalCluster` or scheduler, or Ray.

After the points finish, one MLflow run of the sweep (in the base's experiment) holds the grid
and the comparison table, and every point's run is tagged as its child (`mlflow.parentRunId`),
so the MLflow UI lists them nested under the sweep, ready for its compare view. A point that
fails does not stop the others: the comparison is logged for those that finished, and the sweep
then fails naming the points that did not.

Threads share one process's global random state, which PyTorch draws from in training; a thread
pool therefore gives the sequential numbers only when points do not train at the same time.
Use `dask` (worker processes) to train points in parallel with reproducible results.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.flows.params import ResearchParams
from cnnlstm.flows.runners import TaskRunnerConfig, with_task_runner
from cnnlstm.flows.stages.publish import publish_link, publish_markdown
from cnnlstm.flows.stages.track import report_metrics
from cnnlstm.flows.sweep_grid import PointResult, SweepPoint, comparison_table, expand_grid
from cnnlstm.infra import tracking
from cnnlstm.infra.artifacts import ArtifactRef
from cnnlstm.tasks.report.measures import load_metrics
from cnnlstm.tasks.report.tables import frame_markdown

DEFAULT_COMPARE = [
    "cnn_lstm.annualized_return",
    "cnn_lstm.max_drawdown",
    "cnn_lstm.sharpe",
    "cnn.annualized_return",
    "cnn.sharpe",
    "momentum.annualized_return",
    "benchmark.annualized_return",
]


class SweepParams(BaseModel):
    """A grid of research backtests and how to run them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base: ResearchParams = Field(
        default_factory=ResearchParams, description="the parameters every point starts from"
    )
    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description='dotted parameter paths and their values, e.g. {"selection.top_fraction": '
        '[0.01, 0.02], "lstm.hidden": [16, 32]}',
    )
    seeds: list[int] = Field(
        default_factory=list, description="seeds for both networks (cnn.seed and lstm.seed)"
    )
    task_runner: TaskRunnerConfig = Field(
        default_factory=TaskRunnerConfig, description="how the points run concurrently"
    )
    compare: list[str] = Field(
        default_factory=lambda: list(DEFAULT_COMPARE),
        description="metrics in the comparison table (keys of the backtests' MLflow metrics)",
    )
    max_points: int = Field(64, ge=1, description="refuse larger grids")
    name: str = Field("sweep", min_length=1, description="name of the sweep's MLflow run")

    def points(self) -> list[SweepPoint]:
        """The validated grid points."""
        return expand_grid(self.base, self.grid, self.seeds, max_points=self.max_points)


class SweepOutcome(BaseModel):
    """The points that finished, the comparison table, and where it was logged."""

    model_config = ConfigDict(frozen=True)

    results: list[PointResult]
    failed: dict[str, str]
    table: str
    mlflow_run_id: str | None


@task(name="sweep-point", cache_policy=NO_CACHE)
def run_point(point: SweepPoint) -> PointResult:
    """Run one point's backtest as a child flow run and collect its metrics."""
    # Imported here, not at module level: a Dask worker receives this task's function pickled
    # by value (the module attribute is the Task, not the function), with only the globals its
    # code names. A module-level `backtest_flow` would travel the same way and lose the globals
    # its `from __future__` annotations need (`ResearchParams`) when Prefect validates them.
    from cnnlstm.flows.backtest import backtest_flow

    outcome = backtest_flow.with_options(flow_run_name=f"sweep {point.label}")(params=point.params)
    return PointResult(
        label=point.label,
        overrides=point.overrides,
        run_id=outcome.tracked.run_id if outcome.tracked else None,
        metrics=report_metrics(_validated(outcome.report.metrics)),
    )


@flow(name="sweep-points")
def run_points(points: list[SweepPoint]) -> list[PointResult | str]:
    """Submit every point to this flow's task runner; a failed point yields its error text."""
    futures = [run_point.submit(p) for p in points]
    out: list[PointResult | str] = []
    for future in futures:
        try:
            out.append(future.result())
        except Exception as err:  # noqa: BLE001 - a failed point is reported, not fatal here
            out.append(f"{type(err).__name__}: {err}")
    return out


def log_sweep(params: SweepParams, points: list[SweepPoint], outcome: SweepOutcome) -> str:
    """One MLflow run for the sweep; each point's run is tagged as its child. Returns its id."""
    import mlflow

    experiment = points[0].params.tracking.experiment
    tags = {"flow": "sweep", "sweep.points": str(len(points))}
    with tracking.tracked_run(experiment, run_name=params.name, tags=tags) as run:
        mlflow.log_params(
            {
                "grid": json.dumps(params.grid, default=str)[:6000],
                "seeds": json.dumps(params.seeds),
                "task_runner": params.task_runner.describe(),
                "points": len(points),
                "failed": len(outcome.failed),
            }
        )
        tracking.log_params(points[0].params.model_copy(update={"refresh": False}), "base")
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "comparison.md").write_text(outcome.table)
            tracking.log_files([Path(tmp) / "comparison.md"], "sweep")
        client = mlflow.MlflowClient()
        for result in outcome.results:
            if result.run_id is None:
                continue
            client.set_tag(result.run_id, "mlflow.parentRunId", run.info.run_id)
            client.set_tag(result.run_id, "sweep.name", params.name)
            client.set_tag(result.run_id, "sweep.point", result.label)
        return run.info.run_id


@flow(name="sweep", description="The research backtest over a grid of parameters or seeds.")
def sweep_flow(params: SweepParams = SweepParams()) -> SweepOutcome:  # noqa: B008 - frozen
    """Run every grid point's backtest on the chosen task runner and compare them in MLflow."""
    logger = get_run_logger()
    points = params.points()
    logger.info(f"sweep of {len(points)} points on {params.task_runner.describe()}")
    ran = with_task_runner(run_points, params.task_runner)(points)
    results = [r for r in ran if isinstance(r, PointResult)]
    failed = {p.label: r for p, r in zip(points, ran, strict=True) if isinstance(r, str)}
    with_markdown = frame_markdown(comparison_table(results, params.compare))
    outcome = SweepOutcome(results=results, failed=failed, table=with_markdown, mlflow_run_id=None)
    run_id = None
    if results and points[0].params.tracking.enabled:
        run_id = log_sweep(params, points, outcome)
        publish_link(tracking.run_link(run_id), "sweep-mlflow-run", f"MLflow sweep run {run_id}")
    publish_markdown(with_markdown, "sweep-comparison", "The sweep's points side by side")
    if failed:
        lines = "; ".join(f"{label}: {msg}" for label, msg in failed.items())
        raise RuntimeError(f"{len(failed)} of {len(points)} sweep points failed: {lines}")
    return outcome.model_copy(update={"mlflow_run_id": run_id})


def _validated(ref: ArtifactRef) -> dict:
    """A point's metrics.json read back through `RunMetrics` (a misspelt key is an error)."""
    return load_metrics(ref.local_path().read_text()).model_dump(mode="json", exclude_unset=True)
