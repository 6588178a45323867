"""tasks/report/stats.py against independent computations (scipy, scikit-learn, loops, MC)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from cnnlstm.tasks.report.stats import (
    auc,
    auc_interval,
    block_bootstrap_mean,
    expected_max_sharpe,
    newey_west_t,
    over_seeds,
    sharpe_stats,
)


def test_sharpe_se_psr_dsr_match_the_formulas_of_bailey_and_lopez_de_prado():
    rng = np.random.default_rng(1)
    r = rng.standard_t(5, 750) * 0.01 + 0.0006
    out = sharpe_stats(r, n_trials=10)
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = sps.skew(r), sps.kurtosis(r, fisher=False)
    se = math.sqrt((1 - g3 * sr + (g4 - 1) / 4 * sr**2) / (len(r) - 1))
    assert out["sharpe"] == pytest.approx(sr * math.sqrt(252))
    assert out["sharpe_se"] == pytest.approx(se * math.sqrt(252))
    assert out["psr"] == pytest.approx(sps.norm.cdf(sr / se))
    sr0 = se * (
        (1 - np.euler_gamma) * sps.norm.ppf(1 - 1 / 10)
        + np.euler_gamma * sps.norm.ppf(1 - 1 / (10 * np.e))
    )
    assert out["sr0"] == pytest.approx(sr0 * math.sqrt(252))
    assert out["dsr"] == pytest.approx(sps.norm.cdf((sr - sr0) / se))
    assert out["dsr"] < out["psr"]  # more trials, a higher bar
    assert sharpe_stats(r, n_trials=1)["dsr"] == pytest.approx(out["psr"])


def test_expected_max_sharpe_is_the_mean_maximum_of_skill_less_trials():
    rng = np.random.default_rng(0)
    for n in (5, 50):
        simulated = rng.normal(0.0, 0.3, size=(20_000, n)).max(axis=1).mean()
        assert expected_max_sharpe(n, 0.09) == pytest.approx(simulated, rel=0.03)


def test_newey_west_matches_a_loop_and_reduces_to_the_plain_se_without_lags():
    rng = np.random.default_rng(2)
    e = rng.normal(size=121)
    x = 0.1 + e[1:] + 0.6 * e[:-1]  # MA(1): positive autocorrelation
    out = newey_west_t(x, lags=3)
    n, d = len(x), x - x.mean()
    s = sum(d[i] * d[i] for i in range(n)) / n
    for lag in range(1, 4):
        s += 2 * (1 - lag / 4) * sum(d[i] * d[i - lag] for i in range(lag, n)) / n
    assert out["se"] == pytest.approx(math.sqrt(s / n))
    assert out["t"] == pytest.approx(x.mean() / math.sqrt(s / n))
    plain = newey_west_t(x, lags=0)
    assert plain["se"] == pytest.approx(x.std(ddof=0) / math.sqrt(n))
    assert out["se"] > plain["se"]  # autocorrelation widens the error
    assert newey_west_t(x)["lags"] == math.floor(4 * (n / 100) ** (2 / 9))


def test_auc_matches_scikit_learn_with_ties_and_its_interval_covers_it():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    s = np.round(y * 0.3 + rng.normal(size=400), 1)  # ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s))
    ci = auc_interval(y, s, samples=300, seed=0)
    assert ci["ci_low"] < ci["auc"] < ci["ci_high"]
    assert ci["ci_low"] > 0.5  # a planted signal
    noise = auc_interval(y, rng.normal(size=400), samples=300, seed=0)
    assert noise["ci_low"] < 0.5 < noise["ci_high"]
    assert math.isnan(auc(np.ones(5), np.arange(5.0)))


def test_block_bootstrap_interval_covers_zero_for_noise_and_excludes_it_for_drift():
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 0.01, 1000)
    out = block_bootstrap_mean(noise, samples=500)
    assert out["mean"] == pytest.approx(noise.mean() * 252)
    assert out["ci_low"] < 0 < out["ci_high"]
    drift = block_bootstrap_mean(noise + 0.003, samples=500)
    assert drift["ci_low"] > 0


def test_over_seeds_mean_std_min_max():
    out = over_seeds([0.236, 0.124, 0.189, float("nan")])
    assert out["mean"] == pytest.approx(np.mean([0.236, 0.124, 0.189]))
    assert out["std"] == pytest.approx(np.std([0.236, 0.124, 0.189], ddof=1))
    assert (out["min"], out["max"], out["n"]) == (0.124, 0.236, 3)
    assert math.isnan(over_seeds([1.0])["std"])
