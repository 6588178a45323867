"""Issue 9, the store: restated history never mixes bases, and two writers never lose rows.

The restatement case is the one measured: back-adjusted data re-downloaded after a 2:1 split
(the whole history x0.5) plus 5 new days. Before, the store kept the old basis and appended the
new days on the new basis: close 10.65 on 2017-12-29, then 5.33 on 2018-01-02 (a fake -50% day).
"""

import json
import multiprocessing
from datetime import date, timedelta

import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.bars import BAR_COLUMNS
from cnnlstm.tasks.data.ingest import ingest
from cnnlstm.tasks.data.store import (
    RestatementError,
    read_bars,
    read_restatements,
    store_generation,
    write_bars,
    write_benchmark,
)


def weekdays(start: date, n: int) -> list[date]:
    out, day = [], start
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day += timedelta(days=1)
    return out


def bars_for(symbol: str, days: list[date], base: float = 10.0, step: float = 0.01) -> pl.DataFrame:
    closes = [round(base + step * (i % 50), 2) for i in range(len(days))]
    return pl.DataFrame(
        {
            "symbol": [symbol] * len(days),
            "date": days,
            "open": closes,
            "high": [round(c + 0.1, 2) for c in closes],
            "low": [round(c - 0.1, 2) for c in closes],
            "close": closes,
            "volume": [1000.0] * len(days),
            "amount": [1000.0 * c for c in closes],
        }
    ).select(BAR_COLUMNS)


def split_2_for_1(bars: pl.DataFrame) -> pl.DataFrame:
    """The same bars back-adjusted for a 2:1 split: prices x0.5 (rounded to cents), volume x2."""
    return bars.with_columns(
        *[(pl.col(c) * 0.5).round(2) for c in ("open", "high", "low", "close")],
        volume=pl.col("volume") * 2,
    )


HISTORY = weekdays(date(2017, 10, 2), 65)  # ends 2017-12-29
NEW_DAYS = weekdays(date(2018, 1, 2), 5)


def test_a_split_restatement_fails_by_default_naming_symbol_dates_factor_and_command(tmp_path):
    write_bars(tmp_path, pl.concat([bars_for("AAA", HISTORY), bars_for("BBB", HISTORY)]))
    redownload = pl.concat(
        [split_2_for_1(bars_for("AAA", HISTORY + NEW_DAYS)), bars_for("BBB", HISTORY + NEW_DAYS)]
    )
    with pytest.raises(RestatementError) as err:
        write_bars(tmp_path, redownload)
    message = str(err.value)
    assert "AAA" in message and "BBB" not in message
    assert "2017-10-02" in message and "2017-12-29" in message
    assert "x0.5000" in message
    assert "--on-restated replace" in message
    # nothing was written: the stored basis is whole
    assert read_bars(tmp_path).filter(pl.col("symbol") == "AAA").height == len(HISTORY)


def test_replace_rewrites_the_whole_history_on_one_basis_and_logs_it(tmp_path):
    old = bars_for("AAA", HISTORY)
    write_bars(tmp_path, pl.concat([old, bars_for("BBB", HISTORY)]))
    before = store_generation(tmp_path)
    new = split_2_for_1(bars_for("AAA", HISTORY + NEW_DAYS))
    result = write_bars(tmp_path, new, on_restated="replace", source="csv:redownload")
    aaa = read_bars(tmp_path, symbols=["AAA"])
    assert aaa.height == len(HISTORY) + len(NEW_DAYS)
    assert aaa.equals(new.sort("symbol", "date"))  # one basis: no stored (old) price is left
    close = aaa["close"]
    jumps = (close / close.shift(1) - 1).abs().drop_nulls()
    assert jumps.max() < 0.2  # no fake -50% day at the year boundary
    assert read_bars(tmp_path, symbols=["BBB"]).height == len(HISTORY)
    assert [r.symbol for r in result.restated] == ["AAA"]
    (entry,) = read_restatements(tmp_path)
    assert entry["symbol"] == "AAA" and entry["kind"] == "re-adjustment"
    assert abs(entry["factor"] - 0.5) < 1e-3
    assert entry["rows_replaced"] == len(HISTORY) and entry["source"] == "csv:redownload"
    assert store_generation(tmp_path) != before  # downstream fingerprints change


def test_a_dividend_rescales_the_history_before_it_and_is_named_a_readjustment(tmp_path):
    """Back-adjusted data after a dividend: rows before the ex-date x0.98, later ones as before."""
    old = bars_for("AAA", HISTORY, base=50.0)
    write_bars(tmp_path, old)
    ex_date = HISTORY[40]
    before = pl.col("date") < ex_date
    new = old.with_columns(
        *[
            pl.when(before).then((pl.col(c) * 0.98).round(2)).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close")
        ]
    )
    with pytest.raises(RestatementError, match=rf"every price up to {HISTORY[39]} x0\.98"):
        write_bars(tmp_path, pl.concat([new, bars_for("AAA", NEW_DAYS, base=50.0)]))


def test_replace_removes_old_basis_rows_in_years_the_download_does_not_reach(tmp_path):
    early = weekdays(date(2016, 6, 1), 40)
    write_bars(tmp_path, bars_for("AAA", early + HISTORY))
    new = split_2_for_1(bars_for("AAA", HISTORY + NEW_DAYS))  # 2017-2018 only
    result = write_bars(tmp_path, new, on_restated="replace")
    assert read_bars(tmp_path).equals(new)  # no 2016 row on the old basis is left
    assert result.replaced == len(early) + len(HISTORY)
    assert not (tmp_path / "bars" / "year=2016.parquet").exists()


def test_an_ordinary_correction_is_named_and_replaced_only_by_policy(tmp_path):
    old = bars_for("AAA", HISTORY)
    write_bars(tmp_path, old)
    fixed = old.with_columns(
        close=pl.when(pl.col("date") == HISTORY[3]).then(10.2).otherwise(pl.col("close")),
        high=pl.when(pl.col("date") == HISTORY[3]).then(10.3).otherwise(pl.col("high")),
    )
    with pytest.raises(RestatementError, match=r"AAA: 1 stored row\(s\) differ.*correction"):
        write_bars(tmp_path, fixed)
    write_bars(tmp_path, fixed, on_restated="replace")
    assert read_bars(tmp_path).equals(fixed)
    assert read_restatements(tmp_path)[0]["kind"] == "correction"


def test_the_same_rows_again_change_nothing(tmp_path):
    bars = bars_for("AAA", HISTORY)
    write_bars(tmp_path, bars)
    generation = store_generation(tmp_path)
    again = write_bars(tmp_path, bars)
    assert (again.added, again.already_stored, again.restated) == (0, bars.height, [])
    assert store_generation(tmp_path) == generation


def test_ingest_refuses_a_restated_csv_and_replaces_it_when_told(tmp_path):
    header = "date,open,high,low,close,volume,Name\n"
    old = bars_for("XYZ", HISTORY)
    new = split_2_for_1(bars_for("XYZ", HISTORY + NEW_DAYS))

    def write_csv(frame):
        src = tmp_path / "src"
        src.mkdir(exist_ok=True)
        rows = frame.select("date", "open", "high", "low", "close", "volume", "symbol")
        (src / "XYZ.csv").write_text(header + rows.write_csv(include_header=False))
        return f"csv:{src}"

    ingest(write_csv(old), tmp_path / "store")
    spec = write_csv(new)
    with pytest.raises(UserInputError, match="re-adjust"):
        ingest(spec, tmp_path / "store")
    report = ingest(spec, tmp_path / "store", on_restated="replace")
    lines = report.lines()
    assert any("restated history replaced for 1 symbol(s)" in line for line in lines)
    assert any("XYZ" in line and "re-adjustment" in line for line in lines)
    stored = read_bars(tmp_path / "store")
    assert stored["close"].to_list() == new["close"].to_list()


def test_a_restated_benchmark_follows_the_same_policy(tmp_path):
    bench = pl.DataFrame({"symbol": ["IDX"] * 3, "date": HISTORY[:3], "close": [100.0, 101, 102]})
    write_benchmark(tmp_path, bench)
    moved = bench.with_columns(pl.col("close") * 1.01)
    with pytest.raises(RestatementError, match="IDX"):
        write_benchmark(tmp_path, moved)
    write_benchmark(tmp_path, moved, on_restated="replace")


def _writer(store: str, prefix: str, n_symbols: int, barrier) -> None:
    days = weekdays(date(2016, 11, 1), 120)  # two year files
    barrier.wait()
    for i in range(n_symbols):
        write_bars(store, bars_for(f"{prefix}{i:02d}", days))


def test_two_concurrent_writers_lose_no_rows(tmp_path):
    """Before: read-merge-replace per year file without a lock lost one writer's rows."""
    store = str(tmp_path / "store")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    n = 8
    procs = [ctx.Process(target=_writer, args=(store, p, n, barrier)) for p in ("A", "B")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    stored = read_bars(store)
    assert stored["symbol"].n_unique() == 2 * n
    assert stored.height == 2 * n * 120


def test_the_store_is_verified_after_each_write(tmp_path, monkeypatch):
    import cnnlstm.tasks.data.store as store_module

    real = store_module._write_parquet

    def lossy(df, path):  # a write that silently loses a row
        real(df.head(df.height - 1), path)

    write_bars(tmp_path, bars_for("AAA", HISTORY))
    monkeypatch.setattr(store_module, "_write_parquet", lossy)
    with pytest.raises(store_module.StoreIntegrityError, match="year=2017.parquet"):
        write_bars(tmp_path, bars_for("BBB", HISTORY))
    assert read_bars(tmp_path).equals(bars_for("AAA", HISTORY))  # the store is as it was
    assert not list((tmp_path / "bars").glob(".*.tmp"))


def test_restatement_log_is_json_lines(tmp_path):
    write_bars(tmp_path, bars_for("AAA", HISTORY))
    write_bars(tmp_path, split_2_for_1(bars_for("AAA", HISTORY)), on_restated="replace")
    lines = (tmp_path / "restatements.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["symbol"] == "AAA"


def test_a_commit_interrupted_after_its_journal_is_completed_by_the_next_reader(tmp_path):
    import cnnlstm.tasks.data.store as store_module

    write_bars(tmp_path, bars_for("AAA", HISTORY))
    target = tmp_path / "bars" / "year=2017.parquet"
    replacement = split_2_for_1(bars_for("AAA", HISTORY))
    tmp = target.with_name(".year=2017.parquet.crashed.tmp")
    replacement.write_parquet(tmp)
    # the state a writer killed between its commit point and its renames leaves behind
    (tmp_path / "journal.json").write_text(
        json.dumps({"renames": [[str(tmp), str(target)]], "removes": []})
    )
    assert read_bars(tmp_path).equals(replacement)
    assert not (tmp_path / "journal.json").exists() and not tmp.exists()
    assert store_module._journal_path(tmp_path) == tmp_path / "journal.json"


def test_a_write_that_fails_before_its_journal_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    import cnnlstm.tasks.data.store as store_module

    bars = bars_for("AAA", HISTORY)
    write_bars(tmp_path, bars)
    calls = []

    def failing(df, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        df.write_parquet(path)

    monkeypatch.setattr(store_module, "_write_parquet", failing)
    more = pl.concat([bars_for("BBB", HISTORY + NEW_DAYS)])  # touches 2017 and 2018
    with pytest.raises(OSError, match="disk full"):
        write_bars(tmp_path, more)
    assert read_bars(tmp_path).equals(bars)
    assert not list((tmp_path / "bars").glob(".*.tmp"))


def test_a_crashed_writers_temporaries_are_removed_by_the_next_lock_holder(tmp_path):
    write_bars(tmp_path, bars_for("AAA", HISTORY))
    stale = tmp_path / "bars" / ".year=2017.parquet.dead.tmp"
    stale.write_bytes(b"half a file")
    read_bars(tmp_path)
    assert not stale.exists()
