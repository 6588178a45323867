"""Point-in-time universes: membership periods read from a file and applied on a date.

Input contract: a membership file, either Qlib's `instruments/<name>.txt` layout (no header;
`SYMBOL START END` separated by tabs or spaces, one period a line, several lines per symbol) or
a CSV with the header `symbol,start,end`. Output: the `membership` table
(`schemas/universe.py`). The same reader serves listing periods (Qlib's `all.txt`, or a listing
file): a stock is listed from `start` to `end`.

`is_member(membership, keys, on=...)` tells for each (symbol, date) row whether the symbol was a
member on that date (start <= date <= end). `universe_coverage` counts the members the data
lacks: members without any bar are named, their share of member-days (members x trading days in
the span) is stated, and the run refuses them only when asked to.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.universe import MEMBERSHIP_COLUMNS, MembershipSchema
from cnnlstm.schemas.validation import validate_table

_SPLIT = re.compile(r"[\t ,;]+")


def read_membership(path: Path | str, *, table: str = "membership") -> pl.DataFrame:
    """Read a membership (or listing) file into the `membership` table.

    Raises:
        UserInputError: the file is missing, empty, or a line is not `SYMBOL START END` with
            ISO dates (the message names the file and the line).
        DataValidationError: a period ends before it starts, or a symbol's periods overlap.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserInputError(f"{file}: no such {table} file")
    rows = []
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        fields = [f for f in _SPLIT.split(line.strip()) if f]
        if not fields or (
            number == 1 and [f.lower() for f in fields[:3]] == ["symbol", "start", "end"]
        ):
            continue
        try:
            if len(fields) != 3:
                raise ValueError("expected 3 fields")
            start, end = date.fromisoformat(fields[1][:10]), date.fromisoformat(fields[2][:10])
        except ValueError as err:
            raise UserInputError(
                f"{file}, line {number}: {line.strip()!r} is not `SYMBOL START END` with ISO "
                f"dates ({err})"
            ) from None
        rows.append((fields[0].upper(), start, end))
    if not rows:
        raise UserInputError(f"{file}: the {table} file names no periods")
    frame = pl.DataFrame(
        rows,
        schema=dict(zip(MEMBERSHIP_COLUMNS, (pl.Utf8, pl.Date, pl.Date), strict=True)),
        orient="row",
    )
    return validate_table(frame, MembershipSchema, table=f"{table} ({file})").valid


def is_member(membership: pl.DataFrame, keys: pl.DataFrame, *, on: str) -> pl.Series:
    """For each row of `keys` (`symbol` and the date column `on`): a member on that date?"""
    rows = keys.select("symbol", pl.col(on).alias("_day")).with_row_index("_row")
    hits = (
        rows.join(membership.select(MEMBERSHIP_COLUMNS), on="symbol", how="inner")
        .filter((pl.col("start") <= pl.col("_day")) & (pl.col("_day") <= pl.col("end")))
        .select("_row")
        .unique()
    )
    flag = rows.select("_row").join(hits.with_columns(_hit=pl.lit(True)), on="_row", how="left")
    return flag.sort("_row")["_hit"].fill_null(False).alias("member")


class UniverseCoverage(BaseModel):
    """How the data cover a universe's members over a span (the report's universe line)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="the universe's name, e.g. csi300 or the file's name")
    months: int = Field(0, description="rebalance dates in the span")
    span: str = Field("", description="the months counted, e.g. 2011-01..2020-09")
    min_members: int = Field(0, description="fewest members with data on a rebalance date")
    max_members: int = Field(0, description="most members with data on a rebalance date")
    without_data: list[str] = Field(default_factory=list, description="members with no bar")
    missing_member_days: int = 0
    member_days: int = 0

    @property
    def missing_share(self) -> float:
        """Share of member-days (members x trading days) whose member has no data."""
        return self.missing_member_days / self.member_days if self.member_days else 0.0

    def rule(self) -> str:
        """The universe rule in one line."""
        missing = len(self.without_data)
        line = (
            f"{self.name} members on each rebalance date, {self.min_members} to "
            f"{self.max_members} a month{f' ({self.span})' if self.span else ''}, {missing} "
            "member(s) without data"
        )
        if missing:
            line += f" ({self.missing_share:.1%} of member-days)"
        return line


def universe_coverage(
    membership: pl.DataFrame,
    bars: pl.DataFrame,
    *,
    start: date,
    end: date,
    name: str,
) -> UniverseCoverage:
    """Count the members on each rebalance date in [start, end] and those the bars lack.

    Rebalance dates are the last trading day (of the bars' calendar) before each month that
    starts in the span; member-days count every trading day in the span.
    """
    days = bars.select(pl.col("date").unique().sort())["date"]
    in_span = days.filter((days >= start) & (days <= end))
    months = in_span.dt.month_start().unique().sort()
    dated = [(m, days.filter(days < m).max()) for m in months]
    dated = [(m, d) for m, d in dated if d is not None]  # month t and its rebalance date
    rebalance = [d for _, d in dated]
    have = set(bars["symbol"].unique().to_list())
    counts = []
    for day in rebalance:
        on = membership.filter((pl.col("start") <= day) & (pl.col("end") >= day))["symbol"]
        counts.append(int(on.is_in(list(have)).sum()))
    first = in_span.search_sorted(membership["start"], side="left")
    after = in_span.search_sorted(membership["end"], side="right")
    periods = membership.with_columns(days=(after - first).clip(lower_bound=0))
    missing = periods.filter(~pl.col("symbol").is_in(list(have)) & (pl.col("days") > 0))
    return UniverseCoverage(
        name=name,
        months=len(rebalance),
        span=f"{dated[0][0]:%Y-%m}..{dated[-1][0]:%Y-%m}" if dated else "",
        min_members=min(counts, default=0),
        max_members=max(counts, default=0),
        without_data=sorted(missing["symbol"].unique().to_list()),
        missing_member_days=int(missing["days"].sum()),
        member_days=int(periods["days"].sum()),
    )


def check_members_with_data(coverage: UniverseCoverage, policy: str) -> None:
    """Refuse members without data when `policy` is "fail" (else the report states them).

    Raises:
        UserInputError: members without data and `policy == "fail"` (naming up to 10).
    """
    if policy == "fail" and coverage.without_data:
        shown = ", ".join(coverage.without_data[:10])
        more = len(coverage.without_data) - 10
        raise UserInputError(
            f"{len(coverage.without_data)} member(s) of {coverage.name} have no data "
            f"({coverage.missing_share:.1%} of member-days): {shown}"
            + (f" and {more} more" if more > 0 else "")
            + "; set data.missing_members=caveat to run without them (the report says so)"
        )
