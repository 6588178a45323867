"""Today's LSTM decisions for the month's selection, from the windows ending at today's close.

Point in time: only bars through the decision day are read. A selected stock without a full
window gets no signal (its reason is returned); the decision history then records -1 for it
(`orders.record_decisions`: no evidence to hold).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.tasks.features import LstmWindowConfig, build_lstm_windows
from cnnlstm.tasks.training.networks import predict_lstm


class SessionSignals(BaseModel):
    """Each selected stock's +1/-1 of one session, and why a stock got none."""

    model_config = ConfigDict(frozen=True)

    day: date
    signals: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)

    def decided(self) -> pl.DataFrame:
        """The LSTM's own decisions as a table (a missing window is not one)."""
        return pl.DataFrame(
            {
                "symbol": list(self.signals),
                "date": [self.day] * len(self.signals),
                "signal": list(self.signals.values()),
            },
            schema={"symbol": pl.String, "date": pl.Date, "signal": pl.Int8},
        )


def session_signals(
    bars: pl.DataFrame,
    checkpoint: Path,
    day: date,
    symbols: Sequence[str],
    *,
    window: int,
    hold_days: int,
) -> SessionSignals:
    """The LSTM's decision for each of `symbols` from the window ending at `day`'s close."""
    keys = pl.DataFrame({"symbol": list(symbols), "date": [day] * len(symbols)})
    wanted = {"window": window, "horizon": hold_days, "execution": "open"}
    cfg = LstmWindowConfig(
        **{k: v for k, v in wanted.items() if k in LstmWindowConfig.model_fields}
    )
    known = bars.filter(pl.col("date") <= day)  # point in time: nothing after the close
    windows = build_lstm_windows(known, cfg, keys=keys, with_labels=False)
    skipped = {row["symbol"]: row["reason"] for row in windows.skipped.iter_rows(named=True)}
    if not len(windows):
        return SessionSignals(day=day, skipped=skipped)
    signals = predict_lstm(checkpoint, windows)
    found = {s: int(v) for s, v in signals.select("symbol", "signal").iter_rows()}
    return SessionSignals(day=day, signals=found, skipped=skipped)
