import numpy as np
import polars as pl

from cnnlstm.core.frames import group_mean


def _frame(n: int = 30_000) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    x[::7] = np.nan
    return pl.DataFrame(
        {"g": rng.integers(0, 50, n), "h": rng.integers(0, 3, n), "x": x}
    ).with_columns(pl.col("x").fill_nan(None), flag=pl.col("x") > 0)


def test_group_mean_gives_the_same_bits_on_every_call():
    frame = _frame()
    runs = {
        group_mean(frame, ["g", "h"], {"x": "x"}).sort("g", "h")["x"].to_numpy().tobytes()
        for _ in range(20)
    }
    assert len(runs) == 1


def test_group_mean_equals_the_mean_skipping_nulls():
    frame = _frame(2_000)
    got = group_mean(frame, "g", {"m": "x", "up": pl.col("flag").cast(pl.Float64)}).sort("g")
    for g, m, up in got.iter_rows():
        part = frame.filter(pl.col("g") == g)
        assert abs(m - part["x"].mean()) < 1e-12
        assert abs(up - part["flag"].cast(pl.Float64).mean()) < 1e-15
    assert got.columns == ["g", "m", "up"]


def test_group_mean_does_not_depend_on_the_row_order():
    frame = _frame()
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    a = group_mean(frame, ["g", "h"], {"x": "x"})
    b = group_mean(shuffled, ["g", "h"], {"x": "x"})
    assert a["x"].to_numpy().tobytes() == b["x"].to_numpy().tobytes()
    assert a.select("g", "h").equals(a.select("g", "h").sort("g", "h"))
