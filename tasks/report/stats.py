"""The report's statistics as pure functions over numpy arrays: how sure each number is.

Input contract: daily simple returns (1-D float arrays, no NaN), binary outcomes with scores,
monthly series. Nothing here reads a table or a file.

* Sharpe ratio with its standard error (Lo 2002; Mertens 2002, non-normal returns), the
  probabilistic Sharpe ratio PSR(SR*) and the deflated Sharpe ratio (Bailey & Lopez de Prado
  2014): PSR against the Sharpe ratio the best of `n_trials` skill-less trials would reach,
  SR0 = sqrt(V) * ((1 - g) * z(1 - 1/N) + g * z(1 - 1/(N e))), g = Euler-Mascheroni constant.
  V, the variance of the trials' Sharpe ratios, is taken as the estimate's own sampling variance
  (SE^2): under the null of no skill, the trials' Sharpe ratios scatter by their sampling error.
* Newey-West (HAC) t-statistic of a mean (Bartlett kernel).
* ROC AUC (Mann-Whitney, ties counted half) and its bootstrap percentile interval.
* Circular block-bootstrap interval of a mean (keeps autocorrelation and volatility clusters).
* Mean, standard deviation, min and max over seeds.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

TRADING_DAYS = 252
EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def moments(returns: np.ndarray) -> tuple[float, float]:
    """Sample skewness and (non-excess) kurtosis, biased estimators (normal: 0 and 3)."""
    r = np.asarray(returns, dtype=float)
    centred = r - r.mean()
    var = float(np.mean(centred**2))
    if var <= 0:
        return 0.0, 3.0
    return float(np.mean(centred**3) / var**1.5), float(np.mean(centred**4) / var**2)


def sharpe_se(sr: float, n: int, skew: float, kurt: float) -> float:
    """Standard error of a per-period Sharpe ratio estimated from `n` returns."""
    if n < 2:
        return math.nan
    inner = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2
    return math.sqrt(max(inner, 0.0) / (n - 1))


def probabilistic_sharpe(sr: float, sr_ref: float, n: int, skew: float, kurt: float) -> float:
    """P(true Sharpe > `sr_ref`) given the per-period estimate `sr` from `n` returns."""
    se = sharpe_se(sr, n, skew, kurt)
    if not se or math.isnan(se):
        return math.nan
    return _NORMAL.cdf((sr - sr_ref) / se)


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """The per-period Sharpe ratio the best of `n_trials` skill-less trials reaches (SR0)."""
    if n_trials <= 1:
        return 0.0
    n = float(n_trials)
    first = _NORMAL.inv_cdf(1.0 - 1.0 / n)
    second = _NORMAL.inv_cdf(1.0 - 1.0 / (n * math.e))
    return math.sqrt(variance) * ((1.0 - EULER_GAMMA) * first + EULER_GAMMA * second)


def sharpe_stats(returns: np.ndarray, *, n_trials: int = 1) -> dict[str, float]:
    """Annualized Sharpe with SE, PSR(0) and the deflated Sharpe ratio over `n_trials` trials.

    Returns:
        sharpe, sharpe_se (annualized), psr (P(Sharpe > 0)), dsr, sr0 (annualized deflation
        threshold), n_trials, skew, kurtosis, n.
    """
    r = np.asarray(returns, dtype=float)
    n = len(r)
    sd = float(np.std(r, ddof=1)) if n > 1 else 0.0
    if n < 3 or sd <= 0:
        nan = math.nan
        return {"sharpe": nan, "sharpe_se": nan, "psr": nan, "dsr": nan, "sr0": nan,
                "n_trials": n_trials, "skew": nan, "kurtosis": nan, "n": n}  # fmt: skip
    sr = float(np.mean(r)) / sd
    skew, kurt = moments(r)
    se = sharpe_se(sr, n, skew, kurt)
    sr0 = expected_max_sharpe(n_trials, se**2)
    scale = math.sqrt(TRADING_DAYS)
    return {
        "sharpe": sr * scale,
        "sharpe_se": se * scale,
        "psr": probabilistic_sharpe(sr, 0.0, n, skew, kurt),
        "dsr": probabilistic_sharpe(sr, sr0, n, skew, kurt),
        "sr0": sr0 * scale,
        "n_trials": n_trials,
        "skew": skew,
        "kurtosis": kurt,
        "n": n,
    }


def newey_west_t(x: np.ndarray, lags: int | None = None) -> dict[str, float]:
    """Mean of `x` with its Newey-West standard error and t-statistic.

    `lags` defaults to floor(4 (n/100)^(2/9)) (Newey & West 1994); Bartlett weights 1 - l/(L+1).
    """
    v = np.asarray(x, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n < 2:
        return {"mean": float(v.mean()) if n else math.nan, "se": math.nan, "t": math.nan,
                "lags": 0, "n": n}  # fmt: skip
    if lags is None:
        lags = int(math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)))
    lags = max(0, min(lags, n - 1))
    e = v - v.mean()
    long_run = float(e @ e) / n
    for lag in range(1, lags + 1):
        weight = 1.0 - lag / (lags + 1.0)
        long_run += 2.0 * weight * float(e[lag:] @ e[:-lag]) / n
    se = math.sqrt(max(long_run, 0.0) / n)
    mean = float(v.mean())
    return {"mean": mean, "se": se, "t": mean / se if se > 0 else math.nan, "lags": lags, "n": n}


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_v = values[order]
    ranks = np.empty(len(values), dtype=float)
    _, first, counts = np.unique(sorted_v, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0  # 1-based average rank of each tie group
    ranks[order] = np.repeat(avg, counts)
    return ranks


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of `scores` for binary `labels` (1 = positive); NaN with one class only."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=float)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _ranks(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auc_interval(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    samples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """AUC with a percentile bootstrap interval (rows resampled with replacement)."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=float)
    point = auc(y, s)
    if math.isnan(point):
        return {"auc": point, "ci_low": math.nan, "ci_high": math.nan, "n": len(y)}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(samples):
        idx = rng.integers(0, len(y), len(y))
        value = auc(y[idx], s[idx])
        if not math.isnan(value):
            draws.append(value)
    alpha = (1.0 - level) / 2.0
    return {
        "auc": point,
        "ci_low": float(np.quantile(draws, alpha)),
        "ci_high": float(np.quantile(draws, 1.0 - alpha)),
        "n": len(y),
    }


def block_bootstrap_mean(
    x: np.ndarray,
    *,
    block_days: int = 20,
    samples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    scale: float = TRADING_DAYS,
) -> dict[str, float]:
    """Mean of `x` times `scale` with a circular block-bootstrap percentile interval."""
    v = np.asarray(x, dtype=float)
    n = len(v)
    if n == 0:
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "level": level}
    block = max(1, min(block_days, n))
    n_blocks = math.ceil(n / block)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, size=(samples, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]) % n
    means = v[idx.reshape(samples, -1)[:, :n]].mean(axis=1) * scale
    alpha = (1.0 - level) / 2.0
    return {
        "mean": float(v.mean() * scale),
        "ci_low": float(np.quantile(means, alpha)),
        "ci_high": float(np.quantile(means, 1.0 - alpha)),
        "level": level,
    }


def over_seeds(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation (ddof 1), min and max of finite values over seeds."""
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return {"mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
        "min": float(v.min()),
        "max": float(v.max()),
        "n": len(v),
    }
