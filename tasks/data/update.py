"""Bringing a source's store up to the last session, and saying what that changed.

Input contract: a source spec (`KIND:PATH`, a folder a vendor writes into, a Qlib folder that
Qlib's collector refreshed, or an online source), its reader options, an optional benchmark spec,
the store folder, and the session the store must reach (the exchange calendar's last completed
session). The write is the store's own ingest (`tasks.data.ingest.ingest`): validation, the
`on_invalid` and `on_restated` policies, atomic commits. What it changed is measured on the store
itself, before and after: rows added, rows replaced by a restatement (and which symbols),
symbols new to the store, symbols held on the last session before but absent on the last session
now held ("gone": delisted, or a vendor's file missing), and the last session now held. Whether the
source advanced far enough is `UpdateReport.advanced`; the caller fails red when it did not.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.schemas.validation import OnInvalid
from cnnlstm.tasks.data.ingest import ingest
from cnnlstm.tasks.data.store import OnRestated, read_bars

EXAMPLES = 10


class StoreState(BaseModel):
    """What a store held at one moment: row count, last date, and the symbols on it."""

    model_config = ConfigDict(frozen=True)

    rows: int
    last_date: date | None
    symbols: frozenset[str]
    symbols_on_last: frozenset[str]


def store_state(store: Path | str) -> StoreState:
    """The rows, the last date and the symbols (all, and those on the last date) of a store."""
    if not any((Path(store) / "bars").glob("year=*.parquet")):
        return StoreState(rows=0, last_date=None, symbols=frozenset(), symbols_on_last=frozenset())
    bars = read_bars(store).select("symbol", "date")
    if bars.height == 0:
        return StoreState(rows=0, last_date=None, symbols=frozenset(), symbols_on_last=frozenset())
    last = bars["date"].max()
    on_last = bars.filter(pl.col("date") == last)["symbol"]
    return StoreState(
        rows=bars.height,
        last_date=last,
        symbols=frozenset(bars["symbol"].unique().to_list()),
        symbols_on_last=frozenset(on_last.to_list()),
    )


class UpdateReport(BaseModel):
    """What one update of a store changed, and whether it reached the expected session."""

    model_config = ConfigDict(frozen=True)

    source: str
    store: str
    expected_session: date
    last_before: date | None
    last_after: date | None
    rows_added: int
    rows_replaced: int = Field(description="stored rows replaced by restated histories")
    restated: list[str] = Field(default_factory=list, description="one line per restated symbol")
    rows_rejected: int = 0
    symbols_new: list[str] = Field(default_factory=list)
    symbols_gone: list[str] = Field(default_factory=list)
    benchmark_rows_added: int = 0

    @property
    def advanced(self) -> bool:
        """Whether the store now holds the expected session (or later)."""
        return self.last_after is not None and self.last_after >= self.expected_session

    def lines(self) -> list[str]:
        """Readable lines: the sessions, then each kind of change with examples."""
        verdict = "reached" if self.advanced else "did NOT reach"
        out = [
            f"source: {self.source}",
            f"store: {self.store}",
            f"last session held: {self.last_before or 'none'} -> {self.last_after or 'none'} "
            f"({verdict} the expected {self.expected_session})",
            f"rows added: {self.rows_added}; rows rejected: {self.rows_rejected}",
            f"rows replaced by restatements: {self.rows_replaced} ({len(self.restated)} symbol(s))",
        ]
        out += [f"  {line}" for line in self.restated[:EXAMPLES]]
        out.append(f"symbols new: {len(self.symbols_new)} {_shown(self.symbols_new)}".rstrip())
        out.append(
            f"symbols gone (held on {self.last_before}, absent on {self.last_after}): "
            f"{len(self.symbols_gone)} {_shown(self.symbols_gone)}".rstrip()
        )
        if self.benchmark_rows_added:
            out.append(f"benchmark dates added: {self.benchmark_rows_added}")
        return out

    def markdown(self, title: str) -> str:
        """The report as a markdown artifact."""
        return f"# {title}\n\n" + "\n".join(f"- {line}" for line in self.lines())


def _shown(symbols: list[str]) -> str:
    if not symbols:
        return ""
    more = ", ..." if len(symbols) > EXAMPLES else ""
    return "(" + ", ".join(symbols[:EXAMPLES]) + more + ")"


def update_store(
    source: str,
    store: Path | str,
    expected_session: date,
    *,
    benchmark: str | None = None,
    source_options: dict[str, Any] | None = None,
    on_invalid: OnInvalid = "fail",
    on_restated: OnRestated = "fail",
) -> UpdateReport:
    """Ingest `source` into `store` and report what changed against `expected_session`.

    Raises:
        UserInputError: the source cannot be read, holds invalid rows (policy `fail`) or
            restates stored rows (policy `fail`), naming them (the store is left as it was).
    """
    before = store_state(store)
    report = ingest(
        source,
        store,
        benchmark=benchmark,
        on_invalid=on_invalid,
        on_restated=on_restated,
        source_options=source_options,
    )
    after = store_state(store)
    moved = after.last_date != before.last_date  # on the same session nothing can have left
    gone = before.symbols_on_last - after.symbols_on_last if moved else frozenset()
    return UpdateReport(
        source=source,
        store=str(store),
        expected_session=expected_session,
        last_before=before.last_date,
        last_after=after.last_date,
        rows_added=report.rows_added,
        rows_replaced=report.rows_replaced,
        restated=[r.describe() for r in report.restated],
        rows_rejected=report.rows_rejected,
        symbols_new=sorted(after.symbols - before.symbols),
        symbols_gone=sorted(gone),
        benchmark_rows_added=report.benchmark_rows_added,
    )
