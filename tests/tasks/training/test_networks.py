"""Training and inference of both networks, and their honesty on the simulated market.

Honesty thresholds (150 stocks x 8 years, train 2008-2012, test 2013-2015, seed 1; the planted
strengths are pinned here so that a change of the simulator's defaults cannot weaken the test):
* CNN: momentum +1% and reversal -1% expected monthly return per cross-sectional SD give an
  oracle rank IC of roughly 0.1 (the plain t-12..t-2 momentum signal alone measures 0.07);
  36 test months of ~100 stocks give a mean-IC standard error of about 0.02. The CNN must reach
  a mean out-of-sample rank IC > 0.05 with the effects and stay within +-0.05 without them
  (measured: 0.112 planted, -0.022 none).
* LSTM: a latent daily drift of SD 0.6 x daily volatility (half-life 3 days) moves the 5-day
  return sign. The LSTM must beat the test windows' majority-class rate by > 0.025 and reach
  AUC > 0.55 with it, and stay below both without it (measured on 9,000 correlated test
  windows: +0.044 / 0.578 planted, +0.011 / 0.517 none).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
import torch
from pytorch_lightning.loggers import CSVLogger
from torchmetrics.functional.classification import binary_auroc

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.data.sources.sim import SimConfig, simulate_market
from cnnlstm.tasks.features import (
    CnnFeatureConfig,
    LstmWindowConfig,
    LstmWindows,
    build_cnn_features,
    build_lstm_windows,
)
from cnnlstm.tasks.training.networks import (
    CnnTrainConfig,
    LstmTrainConfig,
    predict_lstm,
    score_cnn,
    train_cnn,
    train_lstm,
)

SPLIT = date(2013, 1, 1)
QUIET = {"progress_bar": False}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks gain nothing from intra-op threads; on a shared 2-core runner they stall."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small_market():
    bars = simulate_market(
        SimConfig(n_stocks=40, start=date(2010, 1, 1), end=date(2013, 6, 30), seed=3)
    ).bars
    return bars, build_cnn_features(bars, CnnFeatureConfig())


def test_cnn_trains_keeps_best_checkpoint_and_scores_every_row(small_market, tmp_path):
    _, feats = small_market
    # one thread: the auto count follows what else runs at each training's start, and a CNN
    # trained at 1 and at 2 threads differs in the last digits (cnnlstm/infra/runtime.py)
    cfg = CnnTrainConfig(epochs=3, val_fraction=0.25, threads=1, **QUIET)
    model = train_cnn(feats, cfg, tmp_path / "a")
    assert model.checkpoint.is_file() and model.checkpoint.parent == tmp_path / "a"
    assert len(model.history) == 3 == model.metrics["epochs_run"]
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "val/auc"} <= set(model.history[0])
    best = min(model.history, key=lambda r: r["val/loss"])
    assert model.metrics["val/loss"] == best["val/loss"]
    labelled = feats.filter(pl.col("label").is_not_null())
    months = labelled["month"].unique().sort()
    n_val = round(months.len() * 0.25)
    assert model.metrics["val_months"] == n_val
    assert model.metrics["val_samples"] == labelled.filter(pl.col("month") >= months[-n_val]).height
    assert model.metrics["unlabelled_rows_ignored"] == feats.height - labelled.height > 0
    scores = score_cnn(model.checkpoint, feats)  # the live month (no label) is scored too
    assert scores.select("symbol", "month").equals(feats.select("symbol", "month"))
    assert scores["score"].is_between(0, 1).all() and scores["score"].n_unique() > 10
    again = train_cnn(feats, cfg, tmp_path / "b")
    assert score_cnn(again.checkpoint, feats).equals(scores)  # same seed, same data


def test_cnn_refuses_too_little_history(small_market, tmp_path):
    _, feats = small_market
    one_month = feats.filter(pl.col("month") == feats["month"].min())
    with pytest.raises(UserInputError, match="at least 2 months"):
        train_cnn(one_month, CnnTrainConfig(epochs=1, **QUIET), tmp_path)
    with pytest.raises(UserInputError, match="label"):
        train_cnn(feats.drop("label"), CnnTrainConfig(epochs=1, **QUIET), tmp_path)
    with pytest.raises(UserInputError, match="lack columns"):
        score_cnn(tmp_path / "none.ckpt", feats.drop("x_05"))


def test_lstm_trains_with_a_purged_tail_and_signals(small_market, tmp_path):
    bars, _ = small_market
    windows = build_lstm_windows(bars, LstmWindowConfig(max_windows_per_month=60))
    cfg = LstmTrainConfig(epochs=2, val_fraction=0.2, purge_days=5, max_windows=1000, **QUIET)
    model = train_lstm(windows, cfg, tmp_path)
    assert model.checkpoint.is_file() and model.checkpoint.name == "lstm-best.ckpt"
    assert model.metrics["train_samples"] == 1000
    days = windows.keys["date"].unique().sort()
    n_val = round(days.len() * 0.2)
    purged = windows.keys.filter(
        pl.col("date") >= days[-n_val - 5], pl.col("date") < days[-n_val]
    ).height
    assert model.metrics["purged_windows"] == purged > 0
    signals = predict_lstm(model.checkpoint, windows)
    assert signals.select("symbol", "date").equals(windows.keys.select("symbol", "date"))
    assert signals["signal"].dtype == pl.Int8
    assert set(signals["signal"].unique()) <= {-1, 1}
    assert ((signals["signal"] == 1) == (signals["prob_up"] > 0.5)).all()
    with pytest.raises(UserInputError, match="labelled"):
        train_lstm(LstmWindows(windows.x, None, windows.keys), cfg, tmp_path)


def test_a_given_logger_receives_the_metrics(small_market, tmp_path):
    _, feats = small_market
    logger = CSVLogger(tmp_path / "logs", name="cnn")
    train_cnn(feats, CnnTrainConfig(epochs=2, **QUIET), tmp_path / "ckpt", logger=logger)
    metrics = pl.read_csv(next((tmp_path / "logs").rglob("metrics.csv")))
    assert {"train/loss", "val/auc"} <= set(metrics.columns)


def test_profiles_set_the_epochs():
    assert CnnTrainConfig(profile="paper").max_epochs("cnn") == 500
    assert LstmTrainConfig(profile="paper").max_epochs("lstm") == 100
    assert LstmTrainConfig(profile="fast", epochs=7).max_epochs("lstm") == 7
    with pytest.raises(ValueError):
        CnnTrainConfig(lr=0)


@pytest.fixture(scope="module", params=["planted", "none"])
def sim_market(request):
    cfg = SimConfig(
        n_stocks=150,
        start=date(2008, 1, 1),
        end=date(2015, 12, 31),
        effects=request.param,
        seed=1,
        momentum_strength=0.01,
        reversal_strength=0.01,
        timing_strength=0.6,
        timing_half_life_days=3.0,
    )
    return request.param, simulate_market(cfg).bars


def _mean_rank_ic(scored: pl.DataFrame) -> float:
    per_month = scored.group_by("month").agg(
        pl.corr(pl.col("score").rank(), pl.col("target_return").rank()).alias("ic")
    )
    return float(per_month["ic"].mean())


def test_cnn_rank_ic_out_of_sample_is_above_chance_only_with_planted_effects(sim_market, tmp_path):
    effects, bars = sim_market
    feats = build_cnn_features(bars, CnnFeatureConfig())
    train = feats.filter(pl.col("month") < SPLIT)
    test = feats.filter(pl.col("month") >= SPLIT, pl.col("label").is_not_null())
    assert test["month"].n_unique() == 36
    model = train_cnn(train, CnnTrainConfig(epochs=20, patience=5, **QUIET), tmp_path)
    scored = score_cnn(model.checkpoint, test).join(
        test.select("symbol", "month", "target_return"), on=["symbol", "month"]
    )
    ic = _mean_rank_ic(scored)
    if effects == "planted":
        assert ic > 0.05, f"planted effects but out-of-sample mean rank IC {ic:.3f}"
    else:
        assert abs(ic) < 0.05, f"a random walk but out-of-sample mean rank IC {ic:.3f}"


def test_lstm_accuracy_out_of_sample_is_above_chance_only_with_planted_drift(sim_market, tmp_path):
    effects, bars = sim_market
    windows = build_lstm_windows(bars, LstmWindowConfig(max_windows_per_month=250))
    day = windows.keys["date"].to_numpy()
    horizon_safe = np.datetime64(SPLIT) - np.timedelta64(10, "D")  # labels end before the test

    def part(mask: np.ndarray) -> LstmWindows:
        return LstmWindows(windows.x[mask], windows.y[mask], windows.keys.filter(mask))

    train, test = part(day < horizon_safe), part(day >= np.datetime64(SPLIT))
    cfg = LstmTrainConfig(epochs=5, max_windows=12_000, batch_size=256, **QUIET)
    model = train_lstm(train, cfg, tmp_path)
    signals = predict_lstm(model.checkpoint, test)
    hit = ((signals["signal"].to_numpy() == 1) == (test.y == 1)).mean()
    majority = max(test.y.mean(), 1 - test.y.mean())
    auc = float(binary_auroc(torch.tensor(signals["prob_up"].to_numpy()), torch.tensor(test.y)))
    if effects == "planted":
        assert hit > majority + 0.025 and auc > 0.55, f"accuracy {hit:.3f}, AUC {auc:.3f}"
    else:
        assert hit < majority + 0.025 and auc < 0.55, f"accuracy {hit:.3f}, AUC {auc:.3f}"


def test_precision_auto_is_full_precision_without_a_gpu(monkeypatch):
    from cnnlstm.tasks.training.loop import resolve_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_precision("auto", "auto") == "32-true"
    assert resolve_precision("16-mixed", "auto") == "16-mixed"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_precision("auto", "auto") == "bf16-mixed"
    assert resolve_precision("auto", "cpu") == "32-true"
