"""A source's specification, `KIND:PATH[#SYMBOL]`: the kinds and the parser (no polars here).

The command line checks a spec (its kind, that its path exists) before anything heavy is
imported, so a wrong path fails at once; `cnnlstm.tasks.data.sources.base` re-exports these.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnlstm.core.errors import UserInputError

SOURCE_KINDS: dict[str, str] = {
    "sim": "cnnlstm.tasks.data.sources.sim",
    "qlib": "cnnlstm.tasks.data.sources.qlib",
    "akshare": "cnnlstm.tasks.data.sources.akshare",
    "netease": "cnnlstm.tasks.data.sources.netease",
    "csv": "cnnlstm.tasks.data.sources.tabular",
    "parquet": "cnnlstm.tasks.data.sources.tabular",
    "akshare-online": "cnnlstm.tasks.data.sources.online",
    "yfinance": "cnnlstm.tasks.data.sources.online",
}
"""Each kind and the module whose `load(kind, path, **options)` reads it (and whose
`load_benchmark(kind, path, symbol)` reads its benchmark). A new source is one module and one line
here; `PATHLESS_KINDS` lists the kinds whose spec needs no path."""

PATHLESS_KINDS: frozenset[str] = frozenset({"sim"})

WINDOWED_KINDS: frozenset[str] = frozenset({"qlib", "csv", "parquet"})
"""Kinds whose reader takes `start`/`end` dates and reads only the days between them (a
research run passes its span, look-back included, so nothing outside it is read)."""


@dataclass(frozen=True)
class SourceSpec:
    """A parsed `KIND:PATH[#SYMBOL]`."""

    kind: str
    path: str
    symbol: str | None = None


def parse_spec(spec: str, *, allow_symbol: bool = False) -> SourceSpec:
    """Split `KIND:PATH[#SYMBOL]`, checking the kind; raise `UserInputError` on a bad spec."""
    kinds = list(SOURCE_KINDS)
    kind, sep, rest = spec.partition(":")
    kind = kind.strip().lower()
    if not sep and kind not in PATHLESS_KINDS:
        raise UserInputError(
            f"source {spec!r} must look like KIND:PATH (kinds: {', '.join(kinds)})"
        )
    if kind not in kinds:
        raise UserInputError(f"unknown source kind {kind!r} in {spec!r}; kinds: {', '.join(kinds)}")
    symbol = None
    if allow_symbol and "#" in rest:
        rest, _, symbol = rest.rpartition("#")
        symbol = symbol.strip() or None
    if kind not in PATHLESS_KINDS and not rest.strip():
        raise UserInputError(f"source {spec!r} names no path after {kind}:")
    return SourceSpec(kind=kind, path=rest.strip(), symbol=symbol)
