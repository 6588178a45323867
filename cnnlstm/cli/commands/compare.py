"""`cnnlstm compare`: runs side by side (parameters that differ, key metrics) and their net values.

Examples:
    cnnlstm compare                              # the last 5 runs of cnnlstm-backtest
    cnnlstm compare --experiment cnnlstm-walk-forward --last 3
    cnnlstm compare 3f2a... 9b1c... --out out/compare

Reads MLflow at `MLFLOW_TRACKING_URI` (default: SQLite in the data directory). Runs are labelled
by the settings that differ between them (`lstm.hidden=16`). The table
(`compare.md`) and the chart go into `--out` (default `out/compare-<date>-<time>/`); the chart
holds each run's CNN-LSTM net value (from its `ledger/nav.csv`) and the first run's benchmark.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from cnnlstm.cli.output import add_out_argument, resolve_out_dir
from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.strategy import registry
from cnnlstm.tasks.strategy.registry import BENCHMARK, HEADLINE

if TYPE_CHECKING:  # polars is imported where used: `cnnlstm --help` and input errors stay fast
    import polars as pl


def key_metrics() -> tuple[str, ...]:
    """The metrics `compare` shows unless told: the registry's strategies, the networks' skill.

    The headline strategy's numbers, every other traded strategy's and the benchmark's return,
    and the networks' out-of-sample skill.
    """
    return (
        *(
            f"{HEADLINE}.{m}"
            for m in ("annualized_return", "max_drawdown", "sharpe", "excess_return")
        ),
        *(f"{name}.annualized_return" for name in registry.traded() if name != HEADLINE),
        f"{BENCHMARK}.annualized_return",
        "cnn_oos.mean_ic",
        "lstm_oos.accuracy",
    )


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `compare` subcommand's parser."""
    parser = subparsers.add_parser(
        "compare",
        help="compare MLflow runs: parameters that differ, key metrics, net-value chart",
        description="Print a side-by-side table of runs and write a chart of their net values.",
    )
    parser.add_argument("runs", nargs="*", metavar="RUN", help="MLflow run ids (default: latest)")
    parser.add_argument("--experiment", default="cnnlstm-backtest", help="MLflow experiment")
    parser.add_argument("--last", type=int, default=5, help="how many latest runs (default 5)")
    parser.add_argument("--metric", action="append", default=None, help="metric to show")
    add_out_argument(parser, what="the table (compare.md) and the chart")
    return parser


def fetch_runs(run_ids: list[str], experiment: str, last: int) -> list:
    """The MLflow runs to compare: the given ids, or the latest finished runs of `experiment`."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from cnnlstm.infra import tracking

    tracking.configure()
    client = MlflowClient()
    if run_ids:
        try:
            return [client.get_run(run_id) for run_id in run_ids]
        except MlflowException as err:
            raise UserInputError(f"cannot read run: {err.message}") from None
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise UserInputError(f"no MLflow experiment {experiment!r} at {tracking.tracking_uri()}")
    runs = client.search_runs(
        [found.experiment_id],
        filter_string="attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=last,
    )
    if not runs:
        raise UserInputError(f"experiment {experiment!r} holds no finished runs")
    return list(reversed(runs))


def differing_params(runs: list) -> list[str]:
    """The parameters whose values differ between the runs."""
    keys = sorted({k for r in runs for k in r.data.params})
    return [k for k in keys if len({r.data.params.get(k) for r in runs}) > 1]


def comparison_table(runs: list, metrics: tuple[str, ...]) -> pl.DataFrame:
    """Rows: parameters whose values differ between runs, then the metrics; a column per run."""
    import polars as pl

    differing = differing_params(runs)
    labels = run_labels(runs)
    columns = {"": [f"param {k}" for k in differing] + [f"metric {m}" for m in metrics]}
    for run in runs:
        values = [run.data.params.get(k, "-") for k in differing]
        values += [_fmt(run.data.metrics.get(m)) for m in metrics]
        columns[labels[run.info.run_id]] = values
    return pl.DataFrame(columns)


#: At most this many differing parameters name a run; more are elided.
LABEL_PARAMS = 2


def run_labels(runs: list) -> dict[str, str]:
    """Run id -> a label saying what differs: `lstm.hidden=16`.

    The settings that differ name each run in full (`lstm.hidden=16, lstm.lr=0.01`, at most
    `LABEL_PARAMS`, then `+N more`); the run id's start is added only where two runs would
    otherwise share a label (runs that differ in no setting).
    """
    differing = differing_params(runs)
    labels = {}
    for run in runs:
        parts = [f"{k}={run.data.params.get(k, '-')}" for k in differing[:LABEL_PARAMS]]
        if len(differing) > LABEL_PARAMS:
            parts.append(f"+{len(differing) - LABEL_PARAMS} more")
        labels[run.info.run_id] = ", ".join(parts) or (run.info.run_name or "run")
    counts = Counter(labels.values())
    return {
        run_id: label if counts[label] == 1 else f"{label} ({run_id[:8]})"
        for run_id, label in labels.items()
    }


def _label(run) -> str:
    name = run.info.run_name or ""
    return f"{run.info.run_id[:8]} {name}".strip()


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def to_markdown(table: pl.DataFrame) -> str:
    """The table as GitHub markdown (the report's table writer)."""
    from cnnlstm.tasks.report.tables import frame_markdown

    return frame_markdown(table)


def nav_chart(
    runs: list, path: Path, labels: dict[str, str] | None = None
) -> tuple[Path | None, list[str]]:
    """Plot each run's CNN-LSTM net value (and the first run's benchmark).

    Returns the chart's path (None without ledgers) and its curves' labels, in legend order.
    """
    labels = labels or {r.info.run_id: _label(r) for r in runs}
    import matplotlib
    import polars as pl

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow

    fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
    plotted: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, run in enumerate(runs):
            try:
                local = mlflow.artifacts.download_artifacts(
                    run_id=run.info.run_id, artifact_path="ledger/nav.csv", dst_path=f"{tmp}/{i}"
                )
            except Exception:  # noqa: BLE001 - a run without a ledger is skipped, not fatal
                continue
            nav = pl.read_csv(local, try_parse_dates=True)
            for strategy in (HEADLINE, BENCHMARK) if i == 0 else (HEADLINE,):
                part = nav.filter(pl.col("strategy") == strategy).sort("date")
                if part.height:
                    name = labels[run.info.run_id]
                    label = name if strategy == HEADLINE else f"benchmark ({name})"
                    style = "-" if strategy == HEADLINE else "--"
                    ax.plot(part["date"].to_list(), part["nav"].to_list(), style, label=label)
                    plotted.append(label)
    if not plotted:
        plt.close(fig)
        return None, []
    ax.set_title("CNN-LSTM net value by run")
    ax.set_ylabel("net value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path, plotted


def preflight(args: argparse.Namespace) -> None:
    """Before anything is read: the output folder can be written safely."""
    args.out = str(resolve_out_dir(args.out, "compare"))


def run(args: argparse.Namespace) -> int:
    """Print the comparison and write it (compare.md) with the chart into the output folder."""
    from cnnlstm.infra.outdir import staged_out_dir

    runs = fetch_runs(args.runs, args.experiment, args.last)
    metrics = tuple(args.metric) if args.metric else key_metrics()
    labels = run_labels(runs)
    table = to_markdown(comparison_table(runs, metrics))
    print(table)
    out = Path(args.out)
    with staged_out_dir(out) as staging:
        (staging / "compare.md").write_text(table + "\n", encoding="utf-8")
        chart, curves = nav_chart(runs, staging / "compare_net_value.png", labels)
    print()
    print(f"results: {out}/")
    print("  table:                         compare.md")
    if chart:
        print(f"  net-value chart:               compare_net_value.png ({'; '.join(curves)})")
    else:
        print("  no run holds ledger/nav.csv: no chart")
    return 0
