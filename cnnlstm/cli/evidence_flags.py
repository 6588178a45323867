"""The seed and cost flags of the research commands (`backtest`, `walk-forward`).

`--seed S` trains with one seed, `--seeds N` with seeds 0..N-1 and `--seeds 0,3,7` with those;
`--cost commission_rate=0.0003` (repeatable) overrides one cost number of the market preset
(`commission` is short for `commission_rate`, likewise `slippage`, `stamp_duty`). Both are
spellings of `--set seeds=[...]` and `--set market_overrides.KEY=VALUE`, applied before any
explicit `--set` (which wins).
"""

from __future__ import annotations

import argparse
from typing import Any

from cnnlstm.core.errors import UserInputError

COST_ALIASES = {
    "commission": "commission_rate",
    "slippage": "slippage_rate",
    "stamp_duty": "stamp_duty_rate",
    "stamp": "stamp_duty_rate",
    "multiplier": "cost_multiplier",
}


def parse_seeds(text: str) -> list[int]:
    """`3` -> [0, 1, 2]; `0,4,7` -> [0, 4, 7].

    Raises:
        argparse.ArgumentTypeError: not a positive count or a comma-separated list of integers.
    """
    try:
        if "," in text:
            seeds = [int(part) for part in text.split(",") if part.strip()]
        else:
            count = int(text)
            if count < 1:
                raise ValueError
            seeds = list(range(count))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds {text!r}: give a count (3) or a list (0,1,2)"
        ) from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: a seed is repeated")
    return seeds


def parse_cost(text: str) -> tuple[str, float]:
    """`commission=0.0003` -> ("commission_rate", 0.0003).

    Raises:
        argparse.ArgumentTypeError: not KEY=NUMBER.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if not sep or not key or number is None:
        raise argparse.ArgumentTypeError(f"--cost {text!r}: use KEY=NUMBER, e.g. commission=3e-4")
    return COST_ALIASES.get(key, key), number


def add_seed_cost_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--seed`, `--seeds` and `--cost` to a research command's parser."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--seed", type=int, metavar="S", help="train with this one seed")
    group.add_argument("--seeds", type=parse_seeds, metavar="N|LIST",
                       help="train with N seeds (0..N-1) or these (0,1,2): Table 2 as mean ± std "
                       "over them, a per-seed table and a seed ensemble")  # fmt: skip
    parser.add_argument("--cost", action="append", type=parse_cost, default=[],
                        metavar="KEY=NUMBER", help="override a cost of the market preset: "
                        "commission=0.0003, min_commission=1 (repeatable)")  # fmt: skip


def seed_cost_sets(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """The `--set` assignments the seed and cost flags stand for."""
    sets: list[tuple[str, Any]] = []
    if getattr(args, "seed", None) is not None:
        sets.append(("seeds", [args.seed]))
    if getattr(args, "seeds", None):
        sets.append(("seeds", list(args.seeds)))
    for key, value in getattr(args, "cost", []) or []:
        sets.append((f"market_overrides.{key}", value))
    return sets


def apply_seed_cost_flags(args: argparse.Namespace) -> argparse.Namespace:
    """Put the seed and cost flags in front of the command's `--set` list (explicit sets win).

    Raises:
        UserInputError: the namespace has no `--set` list to extend.
    """
    if not hasattr(args, "set"):
        raise UserInputError("this command takes no --set settings for --seeds/--cost")
    args.set = [*seed_cost_sets(args), *(args.set or [])]
    return args
