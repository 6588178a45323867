"""Synthetic report inputs of one training seed (for the report-over-seeds tests)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from cnnlstm.tasks.report.build import ReportConfig, ReportInputs

CFG = ReportConfig(bootstrap_samples=200, auc_samples=100)
DAYS = [d for d in (date(2019, 12, 2) + timedelta(i) for i in range(420)) if d.weekday() < 5][:280]


def nav_rows(name: str, returns: np.ndarray, cost: float = 0.0) -> pl.DataFrame:
    nav = np.cumprod(1.0 + returns)
    n = len(nav)
    return pl.DataFrame(
        {
            "date": DAYS[:n],
            "strategy": [name] * n,
            "nav": nav,
            "position_ratio": [0.9] * n,
            "cash": [0.1] * n,
            "costs": [cost] * n,
        }
    )


def seed_inputs(seed: int, *, one_class: bool = False) -> tuple[ReportInputs, dict]:
    """One seed's report inputs from drawn daily returns; returns the raw arrays too."""
    rng = np.random.default_rng(seed)
    n = len(DAYS)
    bench = rng.normal(0.0003, 0.01, n)
    ew = bench + rng.normal(0.0, 0.002, n)
    cnn = bench + rng.normal(0.0005 * seed, 0.006, n)
    lstm = cnn * (rng.random(n) > 0.2)
    gross = {"cnn": cnn + 0.0004, "cnn_lstm": lstm + 0.0003, "equal_weight": ew + 0.0002}
    nav = pl.concat(
        [nav_rows("benchmark", bench), nav_rows("equal_weight", ew, 1e-4),
         nav_rows("cnn", cnn, 2e-4), nav_rows("cnn_lstm", lstm, 2e-4)]
    )  # fmt: skip
    gross_nav = pl.concat(
        [nav_rows("benchmark", bench)] + [nav_rows(k, v) for k, v in gross.items()]
    )
    months = [date(2020, m, 1) for m in range(1, 13)]
    scored = pl.DataFrame(
        [(m, f"S{i}", float(s), float(s) * 0.1 + rng.normal(0, 0.05))
         for m in months for i, s in enumerate(rng.normal(size=40))],
        schema=["month", "symbol", "score", "target_return"], orient="row",
    )  # fmt: skip
    selection = (
        scored.sort("score", descending=True).group_by("month").head(4).select("month", "symbol")
    )
    fwd = rng.normal(0.001, 0.02, 600)
    prob = 1 / (1 + np.exp(-(fwd * 30 + rng.normal(0, 1, 600))))
    outcomes = pl.DataFrame(
        {
            "symbol": [f"S{i % 40}" for i in range(600)],
            "date": [DAYS[i % n] for i in range(600)],
            "signal": np.where(np.ones(600, bool) if one_class else prob > 0.5, 1, -1),
            "prob_up": prob,
            "fwd_return": fwd,
        }
    ).with_columns(pl.col("signal").cast(pl.Int8))
    inputs = ReportInputs(
        nav=nav,
        trades=pl.DataFrame(
            {
                "date": [DAYS[0]],
                "symbol": ["S1"],
                "side": ["buy"],
                "session": ["open"],
                "price": [10.0],
                "shares": [100.0],
                "cost": [5.0],
                "reason": ["x"],
                "strategy": ["cnn"],
            }
        ),  # fmt: skip
        capital=1e6,
        benchmark_label="IDX",
        cnn_scored=scored,
        cnn_selection=selection,
        signal_outcomes=outcomes,
        cost_navs={"0": gross_nav},
        n_trials=7,
        training={"cnn": [{"best_epoch": 3.0, "val/auc": 0.6}], "lstm": []},
    )
    return inputs, {"bench": bench, "cnn": cnn, "cnn_lstm": lstm, "ew": ew, "gross": gross}
