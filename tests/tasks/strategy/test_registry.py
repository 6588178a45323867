"""The strategy registry: one entry per strategy, read by the backtest, the report and compare."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from cnnlstm.cli.commands.compare import key_metrics
from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.data.sources.sim import SimConfig, simulate_market
from cnnlstm.tasks.features import CnnFeatureConfig, build_cnn_features
from cnnlstm.tasks.report.build import ReportConfig, ReportInputs, build_report, write_report
from cnnlstm.tasks.report.caveats import RunFacts
from cnnlstm.tasks.report.seeds import combine
from cnnlstm.tasks.strategy import registry
from cnnlstm.tasks.strategy.orders import monthly_orders
from cnnlstm.tasks.strategy.select import universe_selection
from cnnlstm.tasks.strategy.strategies import StrategySet, run_strategies


def _first_two_alphabetically(market, inputs, execution, hold_days):
    """A toy strategy: each month, the two eligible stocks whose symbols sort first."""
    picks = inputs.universe.sort("month", "symbol").group_by("month", maintain_order=True).head(2)
    return monthly_orders(market, "alphabet", picks, execution=execution), {}


TOY = registry.StrategySpec(
    "alphabet", "First two A-Z", {"color": "tab:green"}, orders=_first_two_alphabetically
)


@pytest.fixture
def with_toy(monkeypatch):
    monkeypatch.setattr(registry, "STRATEGIES", (*registry.STRATEGIES, TOY))


def test_every_spec_has_a_unique_name_and_the_headline_is_traded():
    names = [s.name for s in registry.specs()]
    assert len(names) == len(set(names))
    assert registry.spec(registry.HEADLINE).orders is not None
    assert registry.spec(registry.BENCHMARK).orders is None  # a curve, never traded
    assert registry.seed_dependent() == ("cnn_lstm", "cnn")
    assert registry.label("unknown") == "unknown" and registry.style("unknown") == {}


def test_a_toy_strategy_added_to_the_registry_alone_reaches_table2_metrics_and_compare(
    with_toy, tmp_path
):
    src = simulate_market(SimConfig(n_stocks=30, start=date(2012, 1, 1), end=date(2014, 6, 30)))
    feats = build_cnn_features(src.bars, CnnFeatureConfig())
    universe = universe_selection(feats.select("symbol", "month").with_columns(score=pl.lit(0.5)))
    run = run_strategies(
        src.bars,
        StrategySet(universe=universe),
        MarketConfig.preset("cn"),
        start=date(2014, 1, 1),
        end=date(2014, 6, 30),
        benchmark=src.benchmark,
    )
    assert "alphabet" in run.result.nav["strategy"].unique().to_list()
    bought = run.result.trades.filter(pl.col("strategy") == "alphabet")["symbol"].unique()
    first_two = set(universe.sort("symbol")["symbol"].unique().sort().head(2).to_list())
    assert set(bought.to_list()) <= set(universe["symbol"].to_list()) and bought.len() >= 1
    assert set(bought.to_list()) & first_two
    report = build_report(
        ReportInputs(
            nav=run.result.nav,
            trades=run.result.trades,
            capital=1e6,
            benchmark_label=run.benchmark_label,
        ),
        ReportConfig(bootstrap_samples=100),
    )
    report = combine({"0": report}, None, RunFacts(seeds=(0,)), ReportConfig())
    table2 = report.markdown.split("### Table 2")[1].splitlines()
    assert "First two A-Z" in table2[2]  # Table 2's header row
    files = write_report(report, run.result.nav, tmp_path)
    metrics = json.loads(files["metrics"].read_text())
    assert "annualized_return" in metrics["strategies"]["alphabet"]
    assert "alphabet.annualized_return" in key_metrics()
