"""The report's notes table: rule counts, capacity, missing signals and texts, one row per item.

Input contract: per seed label, the backtest's counts (`Backtest.notes`: `rule.<strategy>.
<action>.<rule>`, `blocked.<strategy>`, `capacity.<strategy>.<first|p05>`, `missing_signals`,
`raw_prices.<basis>`, `ruined.<strategy>`, `failed.<strategy>`, `held_suspended_at_end.<strategy>`)
and its notes in words (`Backtest.texts`). Output: rows `{"topic", "strategy", "item", "values"}`
with `values` the seed label -> count (or `True` for a text), for metrics.json (`notes_table`)
and the report's markdown. One row per (topic, strategy, item), the seeds side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cnnlstm.tasks.report.measures import NoteRow
from cnnlstm.tasks.report.tables import aligned, markdown_table

TOPICS = {
    "rule": "trades a market rule blocked or resized",
    "blocked": "order attempts blocked (all rules)",
    "capacity": "capital at which fills start being cut",
    "missing_signals": "selected stock-days without an LSTM signal",
    "raw_prices": "how real prices were found",
    "ruined": "ruined (NAV reached zero)",
    "failed": "failed (no results)",
    "held_suspended_at_end": "held suspended at the end",
}
CAPACITY_ITEMS = {"first": "first fill cut", "p05": "5% of fills cut"}


def split_key(key: str) -> tuple[str, str, str]:
    """A count's key as (topic, strategy, item)."""
    parts = key.split(".")
    topic = parts[0]
    if topic == "rule" and len(parts) >= 3:
        return topic, parts[1], " ".join(parts[2:]).replace("_", " ")
    if key == "capacity.participation_pct":
        return topic, "", "at this % of the day's traded amount"
    if topic == "capacity" and len(parts) == 3:
        return topic, parts[1], CAPACITY_ITEMS.get(parts[2], parts[2])
    if topic in ("blocked", "ruined", "failed", "held_suspended_at_end") and len(parts) == 2:
        return topic, parts[1], ""
    if topic == "raw_prices" and len(parts) == 2:
        return topic, "", parts[1].replace("_per_", "/")
    if topic == "missing_signals":
        return topic, "cnn_lstm", ""
    return topic, "", ".".join(parts[1:])


def notes_table(
    counts: Mapping[str, Mapping[str, int]], texts: Mapping[str, Sequence[str]]
) -> list[dict]:
    """Rows of the notes table (see the module docstring); counts of 0 are left out."""
    rows: dict[tuple[str, str, str], dict] = {}
    for label, by_key in counts.items():
        for key, value in by_key.items():
            if value:
                row = rows.setdefault(split_key(key), {})
                row[label] = int(value)
    for label, lines in texts.items():
        for line in lines:
            rows.setdefault(("note", "", line), {})[label] = True
    return [
        {"topic": t, "strategy": s, "item": i, "values": values}
        for (t, s, i), values in sorted(rows.items(), key=lambda kv: _order(kv[0]))
    ]


def _order(key: tuple[str, str, str]) -> tuple:
    topics = ["note", *TOPICS]
    topic = key[0]
    return (topics.index(topic) if topic in topics else len(topics), key[1], key[2])


def notes_markdown(rows: Sequence[NoteRow], labels: Sequence[str]) -> list[str]:
    """The notes table as markdown lines: a column per seed."""
    if not rows:
        return ["No rule blocked a trade, no signal was missing, nothing else to note."]
    head = ["topic", "strategy", "item", *(f"seed {x}" for x in labels)]
    cells = [
        [TOPICS.get(r.topic, r.topic), r.strategy or "-", r.item or "-",
         *(_cell(r.values.get(label)) for label in labels)]
        for r in rows
    ]  # fmt: skip
    return markdown_table(head, cells, aligned(3, len(labels)))


def _cell(value) -> str:
    if value is None:
        return "-"
    if value is True:
        return "yes"
    return f"{value:,}"


def count_rows(rows: Sequence[NoteRow]) -> dict[str, int]:
    """How many rows each topic has (the console's one line about the table)."""
    out: dict[str, int] = {}
    for row in rows:
        out[row.topic] = out.get(row.topic, 0) + 1
    return out
