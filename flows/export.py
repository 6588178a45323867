"""A research run's results as plain files in its output folder (`--out`).

What a user opens after a run, under their usual names:

| file | what |
| --- | --- |
| `table2.md`, `metrics.json`, `fig*.png`, ... | the report's files |
| `trades.csv`, `nav.csv` | the ledger: every trade, every strategy's daily net value |
| `selection.csv` | the CNN's picks per test month |
| `signals.csv` | the LSTM's +1/-1 signal per picked stock and decision day |
| `stages.csv` | per stage: result, wall seconds, cache hit, peak RSS (MiB, `core.memory`) |
| `config.yaml` | the effective configuration (`cnnlstm backtest --config` reruns it) |

Written through `cnnlstm.infra.outdir.staged_out_dir`: a new folder appears complete or not at
all, and nothing is written through a symbolic link.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from pydantic import BaseModel

from cnnlstm.infra.artifacts import ArtifactRef
from cnnlstm.infra.outdir import staged_out_dir


def effective_config(params: BaseModel) -> dict:
    """The parameters as a YAML-able dict, as they run (`effective()` where the model has one)."""
    effective = getattr(params, "effective", None)
    return (effective() if callable(effective) else params).model_dump(mode="json")


def stages_table(
    states: dict[str, str], seconds: dict[str, float], peak_rss_mib: dict[str, float] | None = None
) -> pl.DataFrame:
    """One row per stage: its result, wall seconds, whether the cache answered, peak RSS (MiB)."""
    names = list(states)
    peaks = peak_rss_mib or {}
    return pl.DataFrame(
        {
            "stage": names,
            "result": [states[n] for n in names],
            "seconds": [round(seconds.get(n, float("nan")), 3) for n in names],
            "cache_hit": [states[n] == "Cached" for n in names],
            "peak_rss_mib": [round(peaks.get(n, float("nan")), 1) for n in names],
        },
        schema={"stage": pl.String, "result": pl.String, "seconds": pl.Float64,
                "cache_hit": pl.Boolean, "peak_rss_mib": pl.Float64},
    )  # fmt: skip


def export_run(
    out: str | Path,
    *,
    report_files: dict[str, ArtifactRef],
    tables: dict[str, ArtifactRef | pl.DataFrame | None],
    params: BaseModel,
    states: dict[str, str],
    seconds: dict[str, float],
    peak_rss_mib: dict[str, float] | None = None,
) -> dict[str, Path]:
    """Write the run's files into `out` (see the module docstring); returns name -> final path.

    Args:
        out: The output folder (created atomically if new).
        report_files: The report's artifacts; each is written under its original name.
        tables: CSV name -> table (an artifact holding one, a frame, or None to skip).
        params: The run's parameters (written as `config.yaml`).
        states: Stage -> final state name (`Completed`, `Cached`, ...).
        seconds: Stage -> wall seconds.
        peak_rss_mib: Stage -> the process's peak resident memory while it ran (MiB).

    Raises:
        UserInputError: `out` cannot be written safely (a symbolic link, a file, ...).
    """
    names: list[str] = []
    with staged_out_dir(out) as tmp:
        for ref in report_files.values():
            name = ref.meta.get("name", Path(ref.path).name)
            shutil.copyfile(ref.local_path(), tmp / name)
            names.append(name)
        for name, table in tables.items():
            if table is None:
                continue
            frame = table.read_table() if isinstance(table, ArtifactRef) else table
            frame.write_csv(tmp / name)
            names.append(name)
        stages_table(states, seconds, peak_rss_mib).write_csv(tmp / "stages.csv")
        (tmp / "config.yaml").write_text(
            "# the effective configuration of this run: cnnlstm backtest --config config.yaml\n"
            + yaml.safe_dump(effective_config(params), sort_keys=False, allow_unicode=True),
            encoding="utf-8",
        )
        names += ["stages.csv", "config.yaml"]
    final = Path(out).expanduser().absolute()
    return {name: final / name for name in names}


def results_writer(
    out_dir: str | Path | None, *, run: Any, params: BaseModel, first: Any
) -> Callable[[Any], None]:
    """The `before_tracking` hook of both research flows: write `out_dir` (when one is given).

    The report's files, the first seed's ledger, selection and signals, the stages' states and
    seconds, and the effective configuration, all before tracking, so a tracking failure keeps
    them.

    Args:
        out_dir: The output folder, or None to write nothing.
        run: The flow's `StageRunner` (its `states` and `seconds`).
        params: The flow's parameters (written as `config.yaml`).
        first: The first seed's strategy run (`backtest`, `selections`, `signals`).
    """

    def write_out(files: Any) -> None:
        if out_dir:
            export_run(
                out_dir,
                report_files=files.files,
                tables={
                    "trades.csv": first.backtest.trades,
                    "nav.csv": first.backtest.nav,
                    "selection.csv": first.selections.cnn,
                    "signals.csv": first.signals,
                },
                params=params,
                states=run.states,
                seconds=run.seconds,
                peak_rss_mib=run.peak_rss_mib,
            )

    return write_out
