"""Prefect artifacts a run leaves in the UI: Table 2, selections, orders, links, stage summary.

Input contract: small frames and strings produced by the stages; keys follow Prefect's rule
(lower-case letters, digits and dashes). Table artifacts are capped at `MAX_ROWS` rows (the
full tables are in the MLflow run and the data directory).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple

import polars as pl
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

from cnnlstm.tasks.report.tables import markdown_table

MAX_ROWS = 500


def _plain(value):
    """JSON-friendly cell values (dates as ISO text)."""
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def publish_table(frame: pl.DataFrame, key: str, description: str) -> None:
    """A table artifact of the first `MAX_ROWS` rows of `frame`."""
    rows = [{k: _plain(v) for k, v in row.items()} for row in frame.head(MAX_ROWS).to_dicts()]
    if frame.height > MAX_ROWS:
        description += f" (first {MAX_ROWS} of {frame.height} rows)"
    create_table_artifact(table=rows, key=key, description=description)


def publish_markdown(text: str, key: str, description: str) -> None:
    """A markdown artifact (e.g. Table 2)."""
    create_markdown_artifact(markdown=text, key=key, description=description)


def publish_link(url: str, key: str, text: str) -> None:
    """A link artifact (e.g. the MLflow run)."""
    create_link_artifact(link=url, link_text=text, key=key, description=text)


def stage_summary(states: dict[str, str], seconds: dict[str, float] | None = None) -> str:
    """Markdown table of which stages ran, which came from the cache, and their wall seconds."""
    seconds = seconds or {}
    rows = [
        [name, state, f"{seconds[name]:.1f}" if name in seconds else "-"]
        for name, state in states.items()
    ]
    return "\n".join(markdown_table(["stage", "result", "seconds"], rows, "llr"))


def tear_sheet_links(out_dir: str | None, tracked) -> str:
    """Markdown saying where the run's tear sheet (`report.html`) opens: --out and MLflow."""
    lines = ["The tear sheet (one self-contained HTML file: charts, Table 2, every table):", ""]
    if out_dir:
        path = Path(out_dir).expanduser().absolute() / "report.html"
        lines.append(f"- in the output folder: [{path}]({path.as_uri()})")
    if tracked is not None and tracked.tear_sheet:
        lines.append(
            f"- in the MLflow run {tracked.run_id}: [report/report.html]({tracked.tear_sheet})"
        )
    if len(lines) == 2:
        lines.append("- in the report stage's artifacts only (no --out folder, no MLflow run)")
    return "\n".join(lines)


class ArtifactKeys(NamedTuple):
    """Where a research flow's Prefect artifacts go: keys, and Table 2's title."""

    table2: str
    selection: str
    stages: str
    mlflow_run: str
    tear_sheet: str
    title: str


BACKTEST_KEYS = ArtifactKeys(
    "table2", "cnn-selection", "stages", "mlflow-run", "tear-sheet",
    "Table 2: the strategies over the test period",
)  # fmt: skip
WALK_FORWARD_KEYS = ArtifactKeys(
    "walk-forward-table2", "walk-forward-selection", "walk-forward-stages",
    "walk-forward-mlflow-run", "walk-forward-tear-sheet", "Table 2 of the walk-forward test",
)  # fmt: skip


def publish_research(
    keys: ArtifactKeys,
    summary: str,
    selection: pl.DataFrame,
    run,
    tracked,
    out_dir: str | None,
) -> None:
    """A research run's artifacts: Table 2, the first seed's CNN selection, the stages, links.

    Args:
        keys: The flow's artifact keys.
        summary: The report's one-screen summary (markdown).
        selection: The first seed's CNN selection per month.
        run: The flow's `StageRunner` (its stages' states and seconds).
        tracked: The `TrackedRun`, or None with tracking off.
        out_dir: The run's output folder, if any.
    """
    publish_markdown(summary, keys.table2, keys.title)
    publish_table(selection, keys.selection, "CNN selection per month")
    publish_markdown(
        stage_summary(run.states, run.seconds), keys.stages, "Stages computed or taken from cache"
    )
    if tracked is not None:
        publish_link(tracked.link, keys.mlflow_run, f"MLflow run {tracked.run_id}")
    publish_markdown(tear_sheet_links(out_dir, tracked), keys.tear_sheet, "The run's tear sheet")
