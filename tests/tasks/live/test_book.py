"""The paper book: a month built session by session equals the backtest's ledger for the same
selection and signals, and its store is transactional, idempotent and refuses earlier days."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

# the real-PostgreSQL cluster fixture (it skips without initdb or psycopg)
from test_postgres_backends import postgres  # noqa: E402, F401

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.live import session_calendar
from cnnlstm.flows.params import DataParams
from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.data.sources.sim import SimConfig
from cnnlstm.tasks.live.book import BookDay, book_day, replay
from cnnlstm.tasks.live.book_store import BookStore
from cnnlstm.tasks.strategy.strategies import StrategySet, run_strategies

SIM = SimConfig(n_stocks=40, start=date(2012, 1, 1), end=date(2013, 12, 31), seed=5)
JULY = date(2013, 7, 1)


@pytest.fixture(scope="module")
def month():
    bars = load_source("sim", **SIM.model_dump()).bars
    cal = session_calendar(DataParams(source="sim", sim=SIM), "cn")
    rebalance = cal.previous_session(JULY)
    sessions = cal.sessions(JULY, cal.month_last_session(JULY))
    symbols = sorted(bars.filter(pl.col("date") == rebalance)["symbol"].to_list())[:6]
    selection = pl.DataFrame({"month": [JULY] * len(symbols), "symbol": symbols})
    rng = np.random.default_rng(1)
    decisions = [rebalance, *sessions[:-1]]
    signals = pl.DataFrame(
        [(s, d, int(rng.choice([1, -1]))) for d in decisions for s in symbols],
        schema={"symbol": pl.String, "date": pl.Date, "signal": pl.Int8},
        orient="row",
    )
    return bars, cal, rebalance, sessions, selection, signals


def test_a_month_session_by_session_equals_the_backtest(month):
    bars, cal, rebalance, sessions, selection, signals = month
    cfg = MarketConfig.preset("cn")
    fills, navs = [], []
    for i, day in enumerate(sessions):
        known = signals.filter(pl.col("date") <= day)  # what the live flows had decided by then
        run = replay(
            bars.filter(pl.col("date") <= day), selection, known, cfg,
            first_session=rebalance, today=day, later_sessions=sessions[i + 1 :], hold_days=3,
        )  # fmt: skip
        today = book_day(run, day, lot_size=100)
        assert today.reconciles, day
        fills += [{"date": day, **f} for f in today.fills]
        navs.append((day, today.nav))
    full = run_strategies(
        bars.filter(pl.col("date") <= sessions[-1]),
        StrategySet(universe=selection, cnn=selection, signals=signals),
        cfg, start=JULY, end=sessions[-1], hold_days=3,
    ).result  # fmt: skip
    ledger = full.trades.filter(pl.col("strategy") == "cnn_lstm").filter(pl.col("date") >= JULY)
    cols = ["date", "symbol", "side", "session", "price", "shares", "cost"]
    live = pl.DataFrame(fills).select(cols).sort(cols)
    assert live.height > 0
    real = ledger.with_columns(price=pl.col("raw_price"), shares=pl.col("raw_shares"))
    assert live.equals(real.select(cols).sort(cols))
    nav = full.nav.filter(pl.col("strategy") == "cnn_lstm").filter(pl.col("date") >= JULY)
    expected = (nav["nav"] * cfg.initial_capital).to_list()
    assert [v for _, v in navs] == pytest.approx(expected, rel=1e-12)


def _day(day: date, nav: float) -> BookDay:
    return BookDay(
        day=day, nav=nav, cash=nav - 10.0, position_value=10.0, costs_to_date=1.0, pnl=0.0,
        fills=[{"symbol": "A", "side": "buy", "session": "open", "price": 1.0, "shares": 10.0,
                "cost": 1.0, "reason": "timing"}],
        positions=[{"symbol": "A", "shares": 10.0, "lots": 0, "value": 10.0}],
    )  # fmt: skip


ORDERS = pl.DataFrame(
    {"trade_date": [date(2013, 7, 3)], "symbol": ["A"], "side": ["sell"], "session": ["open"],
     "shares": [None], "reason": ["held days ran out"]},
    schema_overrides={"shares": pl.Float64},
)  # fmt: skip


def check_store(store: BookStore) -> None:
    d1, d2 = date(2013, 7, 1), date(2013, 7, 2)
    store.write_day(_day(d1, 100.0), ORDERS)
    store.write_day(_day(d2, 101.0), ORDERS)
    store.write_day(_day(d2, 101.0), ORDERS)  # a re-run replaces the day
    assert store.navs()["day"].to_list() == [d1, d2]
    assert store.fills().height == 2
    with pytest.raises(UserInputError, match="rebuild=True"):
        store.write_day(_day(d1, 99.0), ORDERS)
    assert store.navs()["nav"].to_list() == [100.0, 101.0]  # nothing written
    assert store.write_day(_day(d1, 99.0), ORDERS, rebuild=True) == [d2]
    assert store.navs()["nav"].to_list() == [99.0] and store.last_day() == d1
    assert store.navs()["reconciled"].to_list() == [True]


def test_book_store_on_sqlite_is_idempotent_and_refuses_earlier_days(tmp_path):
    check_store(BookStore(f"sqlite:///{tmp_path / 'book.sqlite'}"))


def test_book_store_defaults_to_the_data_home():
    assert BookStore().url.endswith("/book.sqlite")


def test_a_failed_write_leaves_the_day_as_it_was(tmp_path):
    store = BookStore(f"sqlite:///{tmp_path / 'book.sqlite'}")
    store.write_day(_day(date(2013, 7, 1), 100.0), ORDERS)
    bad = _day(date(2013, 7, 1), 50.0).model_copy(update={"positions": [{"symbol": "A"}]})
    with pytest.raises(Exception):  # noqa: B017 - any database error; the point is the rollback
        store.write_day(bad, ORDERS)
    assert store.navs()["nav"].to_list() == [100.0]
    assert date(2013, 7, 1) + timedelta(0) == store.last_day()


@pytest.mark.server
def test_book_store_on_postgresql(postgres):  # noqa: F811 - the imported fixture
    """The same on a real PostgreSQL (the cluster tests/test_postgres_backends.py starts)."""
    from test_postgres_backends import ROLE_PASSWORDS

    password = ROLE_PASSWORDS["mlflow"]
    url = f"postgresql+psycopg://mlflow:{password}@127.0.0.1:{postgres['port']}/mlflow"
    check_store(BookStore(url))


QLIB_MONTHS = (date(2016, 3, 1), date(2016, 4, 1))


@pytest.fixture(scope="module")
def qlib_months(shared_data):
    """Two months of the Qlib CSI 300 sample (adjusted prices, raw = amount / volume)."""
    from cnnlstm.core.sessions import exchange_calendar
    from cnnlstm.tasks.data.sources.qlib import load

    root = shared_data / "cn-qlib-csi300-sample"
    bars = load("qlib", str(root)).bars.filter(
        pl.col("date").is_between(date(2015, 12, 1), date(2016, 5, 31))
    )
    cal = exchange_calendar("XSHG")
    rebalance = cal.previous_session(QLIB_MONTHS[0])
    sessions = cal.sessions(QLIB_MONTHS[0], cal.month_last_session(QLIB_MONTHS[1]))
    traded = bars.filter((pl.col("date") == rebalance) & (pl.col("volume") > 0))
    # the stocks whose adjusted price is furthest from the raw one (the widest factors)
    wide = traded.with_columns(factor=pl.col("close") / (pl.col("amount") / pl.col("volume")))
    symbols = wide.sort("factor", descending=True)["symbol"].head(8).to_list()
    selection = pl.DataFrame(
        {"month": [m for m in QLIB_MONTHS for _ in symbols], "symbol": symbols * 2}
    )
    rng = np.random.default_rng(7)
    signals = pl.DataFrame(
        [(s, d, int(rng.choice([1, 1, -1]))) for d in [rebalance, *sessions] for s in symbols],
        schema={"symbol": pl.String, "date": pl.Date, "signal": pl.Int8},
        orient="row",
    )
    return bars, cal, rebalance, sessions, selection, signals


def test_qlib_book_is_in_real_shares_equal_to_the_kernel_trade_for_trade(qlib_months):
    """Measured before: fills and positions in adjusted units (6,869.906 'shares' at 145.009
    for the kernel's 10,000 real shares at 99.62) and `costs_to_date` the day's cost only."""
    bars, cal, rebalance, sessions, selection, signals = qlib_months
    cfg = MarketConfig.preset("cn")
    fills, days = [], []
    for i, day in enumerate(sessions):
        month_last = cal.month_last_session(day)
        later = [s for s in sessions[i + 1 :] if s <= month_last]
        run = replay(
            bars.filter(pl.col("date") <= day), selection, signals.filter(pl.col("date") <= day),
            cfg, first_session=rebalance, today=day, later_sessions=later, hold_days=3,
        )  # fmt: skip
        today = book_day(run, day, lot_size=100)
        assert today.reconciles, day
        fills += [{"date": day, **f} for f in today.fills]
        days.append(today)
        for p in today.positions:  # real shares, whole lots
            assert p["shares"] == pytest.approx(round(p["shares"]), abs=1e-6), (day, p)
            assert p["lots"] == int(round(p["shares"]) // 100)
    full = run_strategies(
        bars.filter(pl.col("date") <= sessions[-1]),
        StrategySet(universe=selection, cnn=selection, signals=signals),
        cfg, start=QLIB_MONTHS[0], end=sessions[-1], hold_days=3,
    ).result  # fmt: skip
    ledger = full.trades.filter(pl.col("strategy") == "cnn_lstm").filter(
        pl.col("date") >= QLIB_MONTHS[0]
    )
    kernel = ledger.select(
        "date", "symbol", "side", "session", pl.col("raw_price").alias("price"),
        pl.col("raw_shares").alias("shares"), "cost",
    ).sort("date", "symbol", "side", "session")  # fmt: skip
    live = pl.DataFrame(fills).select(kernel.columns).sort("date", "symbol", "side", "session")
    assert live.height > 20
    assert live.select(pl.exclude("price", "shares", "cost")).equals(
        kernel.select(pl.exclude("price", "shares", "cost"))
    )
    for col in ("price", "shares", "cost"):
        assert live[col].to_list() == pytest.approx(kernel[col].to_list(), rel=1e-9), col
    buys = live.filter(pl.col("side") == "buy")["shares"]
    assert ((buys.round(6) % 100) == 0).all(), buys.to_list()  # whole lots of real shares
    adjusted = ledger.filter(pl.col("side") == "buy")["shares"]
    assert not ((adjusted.round(6) % 100) == 0).all()  # the data's units are not real shares
    paid = np.cumsum([sum(f["cost"] for f in fills if f["date"] == d.day) for d in days])
    assert [d.costs_to_date for d in days] == pytest.approx(paid.tolist(), rel=1e-9)
