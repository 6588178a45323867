"""Helpers shared by several test modules (importable because pytest puts tests/ on the path)."""

from __future__ import annotations

import subprocess

import numpy as np
import polars as pl


def random_walk_bars(
    n_stocks: int, days: pl.Series, seed: int = 0, amount_markup: float = 1.0
) -> pl.DataFrame:
    """Bars of a small random-walk market on `days`, every stock traded every day.

    `amount_markup` scales amount away from close x volume, so a test can tell the fields apart.
    """
    rng = np.random.default_rng(seed)
    n_d = days.len()
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_stocks, n_d)), axis=1))  # (S, D)
    open_ = close * np.exp(rng.normal(0, 0.005, close.shape))
    volume = rng.uniform(1e5, 1e6, close.shape)
    return pl.DataFrame(
        {
            "symbol": np.repeat([f"S{i:02d}" for i in range(n_stocks)], n_d),
            "date": np.tile(days.to_numpy(), n_stocks),
            "open": open_.ravel(),
            "high": (np.maximum(open_, close) * 1.01).ravel(),
            "low": (np.minimum(open_, close) * 0.99).ravel(),
            "close": close.ravel(),
            "volume": volume.ravel(),
            "amount": (volume * close * amount_markup).ravel(),
        }
    )


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> None:
    """Terminate a server the test started; kill it if it does not exit within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
