"""Today's orders from the LSTM timing signals and the month's signal history (live trading).

Input contract: the month's selection (symbols, equal slots), the month's decision history per
symbol (`history`: symbol -> list of +1/-1 in decision order, today's signal last) and whether
today is the month's last trading day. The held-days rule is `tasks.timing.held_states` itself,
replayed over the month's history, so live orders follow exactly the rule the backtest tested:

  +1 while flat -> buy (held days = 5); +1 while holding -> held days = 5;
  -1 while flat -> stay flat; -1 while holding -> held days - 1, sell at 0;
  everything is sold at the month's last trading day, and the next month starts flat.

A decision taken after today's close trades at the next session (the backtest's `open` mode).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from cnnlstm.tasks.timing import held_states

ORDER_SCHEMA = {
    "symbol": pl.Utf8,
    "side": pl.Utf8,
    "weight": pl.Float64,
    "shares": pl.Float64,
    "reason": pl.Utf8,
    "held_after": pl.Boolean,
}


def held_after(history: Sequence[int], hold_days: int) -> tuple[bool, bool]:
    """(held before today's decision, held after it) for one symbol's month of decisions."""
    if not history:
        return False, False
    held = held_states(list(history), hold_days=hold_days)
    before = bool(held[-2]) if len(held) > 1 else False
    return before, bool(held[-1])


def daily_orders(
    symbols: Sequence[str],
    history: Mapping[str, Sequence[int]],
    *,
    hold_days: int = 5,
    month_end: bool = False,
    closes: Mapping[str, float] | None = None,
    capital: float | None = None,
) -> pl.DataFrame:
    """The orders that today's decisions imply, one row per symbol that trades.

    Args:
        symbols: The month's selected symbols (each an equal slot of capital).
        history: Per symbol, the month's +1/-1 decisions so far, today's last.
        hold_days: Held days a +1 sets.
        month_end: Today is the month's last trading day: everything held is sold.
        closes: Today's close per symbol, to turn a slot into shares (with `capital`).
        capital: Capital to size orders in shares; None leaves `shares` null.

    Returns:
        symbol, side (buy/sell), weight (slot share of capital), shares, reason, held_after.
    """
    weight = 1.0 / len(symbols) if symbols else 0.0
    rows = []
    for symbol in symbols:
        steps = list(history.get(symbol, []))
        before, after = held_after(steps, hold_days)
        signal = steps[-1] if steps else None
        if month_end:
            if before or after:
                rows.append((symbol, "sell", weight, "month_end: all positions close", False))
            continue
        if after and not before:
            rows.append(
                (symbol, "buy", weight, f"signal +1 while flat: hold {hold_days} days", True)
            )
        elif before and not after:
            reason = "held days ran out after -1 signals" if signal == -1 else "position closed"
            rows.append((symbol, "sell", weight, reason, False))
    frame = pl.DataFrame(
        rows,
        schema={k: ORDER_SCHEMA[k] for k in ("symbol", "side", "weight", "reason", "held_after")},
        orient="row",
    )
    price = pl.col("symbol").replace_strict(
        dict(closes or {}), default=None, return_dtype=pl.Float64
    )
    shares = (pl.lit(capital) * pl.col("weight") / price).floor() if capital else pl.lit(None)
    return frame.with_columns(shares=shares.cast(pl.Float64)).select(list(ORDER_SCHEMA))
