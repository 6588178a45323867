"""The report over training seeds: Table 2 as mean ± std (min..max), the ensemble, the caveats.

Input contract: one `tasks.report.build.SeedReport` per seed (label = the seed as text),
optionally the seed ensemble's (CNN scores and LSTM probabilities averaged over the seeds; its
`cnn` and `cnn_lstm` columns appear as `cnn_ensemble` / `cnn_lstm_ensemble`), the run's
`RunFacts` and the `ReportConfig`. Output: a `Report` whose `table` has one row per strategy
(mean and std of every metric), whose `metrics` (`RunMetrics`) are what metrics.json holds and
whose `markdown` is the printed report (`tasks.report.document`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

from cnnlstm.tasks.report.build import Report, SeedReport
from cnnlstm.tasks.report.caveats import RunFacts, Thresholds, caveats
from cnnlstm.tasks.report.document import report_markdown
from cnnlstm.tasks.report.measures import Ensemble, RunMetrics, SeedMetrics
from cnnlstm.tasks.report.stats import over_seeds
from cnnlstm.tasks.report.summary import decisions, summary_markdown
from cnnlstm.tasks.strategy import registry

INDEXES = ("ew_index", "ew_index_monthly")


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _dump(section) -> dict | None:
    return None if section is None else section.model_dump(exclude_unset=True)


def strategy_numbers(m: SeedMetrics) -> dict[str, dict]:
    """A seed's strategies plus the frictionless EW indexes, as plain numbers."""
    out = {name: _dump(row) for name, row in m.strategies.items()}
    for index in INDEXES:
        if (row := getattr(m, index)) is not None:
            out[index] = _dump(row)
    return out


def combine(
    per_seed: Mapping[str, SeedReport],
    ensemble: SeedReport | None,
    facts: RunFacts,
    cfg,
    *,
    notes: list[str] | None = None,
    notes_table: list[dict] | None = None,
) -> Report:
    """The report over seeds (see the module docstring).

    `notes` are the run's notes in words; `notes_table` the rows of `tasks.report.notes.
    notes_table` (rule counts, capacity, missing signals per seed), shown as one table.
    """
    seeds = {label: r.metrics for label, r in per_seed.items()}
    ens = None if ensemble is None else ensemble.metrics
    table2 = _table2(seeds, ens)
    first = next(iter(seeds.values()))
    run = RunMetrics.model_validate(
        {
            "period": first.period,
            "benchmark": first.benchmark,
            "seeds": list(facts.seeds),
            "n_trials": first.n_trials,
            "caveats": caveats(seeds, facts, Thresholds.of(cfg)),
            "universe": _universe(facts),
            "table2": table2,
            "strategies": {n: {k: s["mean"] for k, s in ms.items()} for n, ms in table2.items()},
            "ensemble": _ensemble(ens),
            "per_seed": seeds,
            "baselines": first.baselines,
            "bootstrap": first.bootstrap,
            "notes": [f"universe: {facts.universe_rule()}", *(notes or [])],
            "notes_table": list(notes_table or []),
            **_means(list(seeds.values())),
        }
    )
    run.decisions = decisions(run)
    rows = [
        {"strategy": n, **{f"{k}_{s}": v[s] for k, v in table2[n].items() for s in ("mean", "std")}}
        for n in ordered(table2)
    ]
    return Report(
        table=pl.DataFrame(rows),
        metrics=run,
        markdown=report_markdown(run, cfg),
        summary=summary_markdown(run, cfg),
    )


def _table2(seeds: Mapping[str, SeedMetrics], ens: SeedMetrics | None) -> dict[str, dict]:
    """Each strategy's finite numbers over the seeds, and the ensemble's (one value each)."""
    numbers = [strategy_numbers(m) for m in seeds.values()]
    out: dict[str, dict] = {}
    for name in sorted({n for per in numbers for n in per}):
        keys = sorted({k for per in numbers for k, v in per.get(name, {}).items() if _finite(v)})
        out[name] = {
            k: over_seeds([per.get(name, {}).get(k, math.nan) for per in numbers]) for k in keys
        }
    for name, row in _ensemble_rows(ens).items():
        out[name] = {k: over_seeds([v]) for k, v in _dump(row).items() if _finite(v)}
    return out


def _ensemble_rows(ens: SeedMetrics | None) -> dict:
    if ens is None:
        return {}
    return {f"{n}_ensemble": ens.strategies[n] for n in ("cnn", "cnn_lstm") if n in ens.strategies}


def _ensemble(ens: SeedMetrics | None) -> Ensemble:
    if ens is None:
        return Ensemble(strategies={}, cnn=None, lstm=None, paired=None, nulls=None)
    return Ensemble(
        strategies=_ensemble_rows(ens),
        cnn=ens.cnn,
        lstm=ens.lstm,
        paired=ens.paired,
        nulls=ens.nulls,
    )


def _universe(facts: RunFacts) -> dict:
    coverage = {} if facts.universe is None else facts.universe.model_dump()
    return {"rule": facts.universe_rule(), **coverage}


def _means(seeds: list[SeedMetrics]) -> dict:
    """The model skill, costs, yearly returns and baselines averaged over the seeds."""
    lstm = [{**_dump(m.lstm), **(_dump(m.lstm.skill) or {})} for m in seeds if m.lstm]
    return {
        "cost_sensitivity": _mean_nested([m.cost_sensitivity for m in seeds]),
        "yearly": _mean_nested([m.yearly for m in seeds]),
        "cnn": _mean_flat([_dump(m.cnn) for m in seeds]),
        "lstm": _mean_flat(lstm),
        "qlib": _mean_qlib([_dump(m.qlib) for m in seeds]),
        "deciles": _mean_deciles([_dump(m.deciles) for m in seeds]),
        "nulls": _over_seeds_by_key([{k: _dump(v) for k, v in m.nulls.items()} for m in seeds]),
    }


def seeds_table(metrics: RunMetrics) -> pl.DataFrame:
    """One row per (seed, strategy) with that seed's numbers (seeds.csv)."""
    rows = []
    for label, m in metrics.per_seed.items():
        for name, numbers in strategy_numbers(m).items():
            rows.append(
                {"seed": label, "strategy": name}
                | {k: float(v) for k, v in numbers.items() if _finite(v)}
            )
    return pl.DataFrame(rows, infer_schema_length=None)


def ordered(names) -> list[str]:
    """Strategy names in the registry's order."""
    return sorted(names, key=registry.order_key)


def _mean_nested(items: list[dict]) -> dict:
    """Mean over seeds of {a: {b: number}} mappings."""
    out: dict[str, dict] = {}
    for a in sorted({k for d in items for k in d}):
        keys = sorted({k for d in items for k in d.get(a, {})})
        out[a] = {
            b: over_seeds([d.get(a, {}).get(b, math.nan) for d in items])["mean"] for b in keys
        }
    return out


def _mean_qlib(items: list[dict | None]) -> dict | None:
    """The Qlib-convention rows averaged over seeds (the conventions kept)."""
    items = [d for d in items if d]
    if not items:
        return None
    out = {"convention": items[0]["convention"]}
    out["strategies"] = _over_seeds_by_key([d["strategies"] for d in items])
    cnn = [d["cnn"] for d in items if d.get("cnn")]
    if cnn:
        out["cnn"] = {"convention": cnn[0]["convention"], **(_mean_flat(cnn) or {})}
    return out


def _mean_deciles(items: list[dict | None]) -> dict | None:
    """The decile table's numbers averaged over seeds (the convention kept)."""
    items = [d for d in items if d]
    if not items:
        return None
    out = {k: v for k, v in items[0].items() if isinstance(v, str)}
    out["deciles"] = _over_seeds_by_key([d["deciles"] for d in items])
    out |= _mean_flat(items) or {}
    if all(d.get("selected") for d in items):
        out["selected"] = _mean_flat([d["selected"] for d in items])
    out["seeds"] = len(items)
    return out


def _over_seeds_by_key(items: list[dict]) -> dict:
    """{key: flat mapping} per seed -> {key: mean over seeds of its numbers}."""
    keys = sorted({k for d in items for k in d})
    return {k: _mean_flat([d.get(k) for d in items]) for k in keys}


def _mean_flat(items: list[dict | None]) -> dict | None:
    """Mean over seeds of the numeric fields of flat mappings."""
    items = [d for d in items if d]
    if not items:
        return None
    keys = {k for d in items for k, v in d.items() if _finite(v)}
    return {k: over_seeds([d.get(k, math.nan) for d in items])["mean"] for k in sorted(keys)}
