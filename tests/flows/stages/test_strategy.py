"""The report stage's caveat facts: the benchmark's gaps come from the dataset, measured once."""

from __future__ import annotations

from datetime import date

import polars as pl

from cnnlstm.flows.stages.data import Dataset
from cnnlstm.flows.stages.strategy import RunContext, benchmark_gaps
from cnnlstm.infra.artifacts import write_table
from cnnlstm.tasks.data.ingest import BenchmarkCoverage

DAYS = [date(2020, 1, d) for d in (2, 3, 6, 7)]


def _dataset() -> Dataset:
    closes = pl.DataFrame({"symbol": "IDX", "date": [DAYS[0], DAYS[3]], "close": [1.0, 1.1]})
    ref = write_table(closes, "test")
    return Dataset(bars=ref, benchmark=ref, benchmark_name="IDX", benchmark_derived=False)


def test_the_benchmark_gaps_are_the_validate_stages_count_else_counted():
    dataset = _dataset()
    assert benchmark_gaps(dataset, DAYS) == 2  # Jan 3 and 6 have no close
    coverage = BenchmarkCoverage(
        name="IDX", period_start=DAYS[0], period_end=DAYS[-1], sessions=4, missing_sessions=3,
        first=DAYS[0], last=DAYS[-1], longest_gap=3, gaps=(), max_gap_sessions=5, covers=True,
    )  # fmt: skip
    assert benchmark_gaps(dataset.model_copy(update={"benchmark_coverage": coverage}), DAYS) == 3
    derived = dataset.model_copy(update={"benchmark_derived": True})
    assert benchmark_gaps(derived, DAYS) is None  # the EW universe has every session


def test_the_run_context_holds_no_fact_it_never_sets():
    """`benchmark_gaps` was a RunContext field no caller set: the dataset is its one source."""
    assert set(RunContext.model_fields) == {"seeds", "n_trials", "rows_quarantined", "rows_total"}
