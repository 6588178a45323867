"""Table 2 over training seeds: mean ± std (min..max), per-seed table, ensemble, caveats.

Also the cost sensitivity, timing's paired intervals, the yearly table and model skill.

Input contract: one `tasks.report.build.Report` per seed (label = the seed as text), optionally the
seed ensemble's `Report` (CNN scores and LSTM probabilities averaged over the seeds; its `cnn`
and `cnn_lstm` columns appear as `cnn_ensemble` / `cnn_lstm_ensemble`), the run's `RunFacts`
and the `ReportConfig`. Output: a `Report` whose `table` has one row per strategy (mean and
std of every metric), whose `metrics` are what metrics.json holds and whose `markdown` is the
printed report (caveats first).
"""

from __future__ import annotations

import math

import polars as pl

from cnnlstm.tasks.report import sections
from cnnlstm.tasks.report.caveats import RunFacts, Thresholds, caveats
from cnnlstm.tasks.report.notes import notes_markdown
from cnnlstm.tasks.report.stats import over_seeds
from cnnlstm.tasks.report.summary import decisions, decisions_markdown, summary_markdown
from cnnlstm.tasks.strategy import registry
from cnnlstm.tasks.training.trained import describe_lstm_training

ROWS = (
    ("net_return", "Annualized return, net of costs", "{:.3f}"),
    ("gross_return", "Annualized return, gross", "{:.3f}"),
    ("max_drawdown", "Maximum drawdown", "{:.3f}"),
    ("volatility", "Annualized volatility", "{:.3f}"),
    ("sharpe", "Sharpe ratio (net)", "{:.2f}"),
    ("sharpe_se", "  its standard error", "{:.2f}"),
    ("psr", "  probabilistic Sharpe P(SR > 0)", "{:.2f}"),
    ("dsr", "  deflated Sharpe ratio", "{:.2f}"),
    ("sortino", "Sortino ratio", "{:.2f}"),
    ("calmar", "Calmar ratio", "{:.2f}"),
    ("turnover", "Turnover (per year)", "{:.1f}"),
    ("avg_position_ratio", "Average position ratio", "{:.2f}"),
    ("total_costs", "Total costs (of capital)", "{:.4f}"),
    ("excess_return", "Excess return vs benchmark (ann.)", "{:+.3f}"),
)


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _strategies(metrics: dict) -> dict[str, dict]:
    """A seed's strategies plus the frictionless EW index."""
    out = dict(metrics["strategies"])
    for index in ("ew_index", "ew_index_monthly"):
        if metrics.get(index):
            out[index] = metrics[index]
    return out


def combine(
    per_seed: dict[str, object],
    ensemble: object | None,
    facts: RunFacts,
    cfg,
    *,
    notes: list[str] | None = None,
    notes_table: list[dict] | None = None,
):
    """The report over seeds (see the module docstring); `per_seed` values are `Report`s.

    `notes` are the run's notes in words; `notes_table` the rows of `tasks.report.notes.
    notes_table` (rule counts, capacity, missing signals per seed), shown as one table.
    """
    from cnnlstm.tasks.report.build import Report

    seeds_m = {label: r.metrics for label, r in per_seed.items()}
    first = next(iter(seeds_m.values()))
    names = set()
    for m in seeds_m.values():
        names |= set(_strategies(m))
    table2: dict[str, dict] = {}
    for name in names:
        keys = set()
        for m in seeds_m.values():
            keys |= {k for k, v in _strategies(m).get(name, {}).items() if _finite(v)}
        table2[name] = {
            k: over_seeds([_strategies(m).get(name, {}).get(k, math.nan) for m in seeds_m.values()])
            for k in sorted(keys)
        }
    ens = {}
    if ensemble is not None:
        for name in ("cnn", "cnn_lstm"):
            if name in ensemble.metrics["strategies"]:
                ens[f"{name}_ensemble"] = ensemble.metrics["strategies"][name]
        for name, numbers in ens.items():
            table2[name] = {k: over_seeds([v]) for k, v in numbers.items() if _finite(v)}
    th = Thresholds(
        one_class_share=cfg.caveat_one_class,
        cnn_min_val_auc=cfg.caveat_cnn_val_auc,
        cnn_min_rank_ic_t=cfg.caveat_cnn_rank_ic_t,
        min_selected=cfg.caveat_min_selected,
        commission_bps=cfg.caveat_commission_bps,
    )
    warned = caveats(seeds_m, facts, th)
    metrics = {
        "period": first["period"],
        "benchmark": first["benchmark"],
        "seeds": list(facts.seeds),
        "n_trials": first.get("n_trials", 1),
        "caveats": warned,
        "universe": {
            "rule": facts.universe_rule(),
            **({} if facts.universe is None else facts.universe.model_dump()),
        },
        "table2": table2,
        "strategies": {n: {k: s["mean"] for k, s in ms.items()} for n, ms in table2.items()},
        "ensemble": {
            "strategies": ens,
            "cnn": None if ensemble is None else ensemble.metrics.get("cnn"),
            "lstm": None if ensemble is None else ensemble.metrics.get("lstm"),
            "paired": None if ensemble is None else ensemble.metrics.get("paired"),
            "nulls": None if ensemble is None else ensemble.metrics.get("nulls"),
        },
        "per_seed": seeds_m,
        "cost_sensitivity": _mean_nested([m.get("cost_sensitivity", {}) for m in seeds_m.values()]),
        "yearly": _mean_nested([m.get("yearly", {}) for m in seeds_m.values()]),
        "cnn": _mean_flat([m.get("cnn") for m in seeds_m.values()]),
        "lstm": _mean_flat(
            [
                {**(m.get("lstm") or {}), **((m.get("lstm") or {}).get("skill") or {})}
                for m in seeds_m.values()
                if m.get("lstm")
            ]
        ),  # fmt: skip
        "baselines": first.get("baselines"),
        "qlib": _mean_qlib([m.get("qlib") for m in seeds_m.values()]),
        "deciles": _mean_deciles([m.get("deciles") for m in seeds_m.values()]),
        "nulls": _over_seeds_by_key([m.get("nulls") or {} for m in seeds_m.values()]),
        "bootstrap": first["bootstrap"],
        "notes": [f"universe: {facts.universe_rule()}", *(notes or [])],
        "notes_table": list(notes_table or []),
    }
    metrics["decisions"] = decisions(metrics)
    rows = [
        {"strategy": n, **{f"{k}_{s}": v[s] for k, v in table2[n].items() for s in ("mean", "std")}}
        for n in _ordered(table2)
    ]
    names = _ordered(table2)
    return Report(
        table=pl.DataFrame(rows),
        metrics=metrics,
        markdown=_markdown(metrics, cfg),
        summary=summary_markdown(metrics, cfg, names, registry.labels()),
    )


def seeds_table(metrics: dict) -> pl.DataFrame:
    """One row per (seed, strategy) with that seed's numbers (seeds.csv)."""
    rows = []
    for label, m in metrics["per_seed"].items():
        for name, numbers in _strategies(m).items():
            rows.append(
                {"seed": label, "strategy": name}
                | {k: float(v) for k, v in numbers.items() if _finite(v)}
            )
    return pl.DataFrame(rows, infer_schema_length=None)


def _ordered(names) -> list[str]:
    return sorted(names, key=registry.order_key)


def _mean_nested(items: list[dict]) -> dict:
    """Mean over seeds of {a: {b: number}} mappings."""
    out: dict[str, dict] = {}
    for a in {k for d in items for k in d}:
        keys = {k for d in items for k in d.get(a, {})}
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
    cnn = [d.get("cnn") for d in items if d.get("cnn")]
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


def _cell(stat: dict | None, fmt: str, n_seeds: int) -> str:
    if not stat or not _finite(stat.get("mean")):
        return "n/a"
    text = fmt.format(stat["mean"])
    if stat.get("n", 1) > 1 and n_seeds > 1 and stat["max"] > stat["min"]:
        std = stat["std"]
        spread = fmt.format(std).lstrip("+") if _finite(std) else "n/a"
        text += f" ± {spread} ({fmt.format(stat['min'])}..{fmt.format(stat['max'])})"
    return text


def _f(value, fmt: str = "{:.3f}") -> str:
    return fmt.format(value) if _finite(value) else "n/a"


def _hide(name: str, cells: list[str], untradable: str | None) -> list[str]:
    """The traded EW universe's cells replaced by why it is not shown, when it does not fit."""
    if name != "equal_weight" or not untradable or not cells:
        return cells
    return [untradable] + ["-"] * (len(cells) - 1)


def _markdown(metrics: dict, cfg) -> str:
    seeds = metrics["seeds"]
    n = len(seeds)
    table2 = metrics["table2"]
    names = _ordered(table2)
    lines = [f"## {cfg.title}: {metrics['period']['start']} .. {metrics['period']['end']}", ""]
    lines.append("### Caveats")
    lines += [f"- **{c['code']}**: {c['message']}" for c in metrics["caveats"]] or ["- none"]
    lines.append("")
    over = f"mean ± std (min..max) over {n} seeds ({', '.join(map(str, seeds))})"
    lines.append(f"### Table 2: {over if n > 1 else f'seed {seeds[0]}'}")
    lines.append("")
    lines.append("| | " + " | ".join(registry.label(x) for x in names) + " |")
    lines.append("| --- |" + " ---: |" * len(names))
    untradable = (metrics.get("baselines") or {}).get("equal_weight", {}).get("text")
    for key, label, fmt in ROWS:
        label = label if key != "dsr" else f"{label} (N = {metrics['n_trials']} trials)"
        cells = [
            _cell(table2[x].get(key), fmt, n)
            if not (x == "equal_weight" and untradable)
            else (untradable if key == ROWS[0][0] else "-")
            for x in names
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Seed ensemble: CNN scores and LSTM probabilities averaged over the seeds, one backtest. "
        "EW universe indexes: the equal-weighted universe rebalanced daily (every traded "
        "stock) and monthly (each month's eligible stocks from the rebalance close, the "
        "strategies' frequency), no costs (indexes, not tradable strategies); EW universe "
        "(traded): the same monthly through the kernel with lots and costs."
    )
    lines += ["", "### Per seed", ""]
    lines.append(
        "| seed | strategy | net | gross | Sharpe ± SE | PSR | DSR | max DD | "
        "excess vs benchmark [interval] |"
    )
    lines.append("| --- | --- |" + " ---: |" * 7)
    for label, m in metrics["per_seed"].items():
        for name in registry.seed_dependent():
            s = m["strategies"].get(name)
            if not s:
                continue
            lines.append(
                f"| {label} | {registry.label(name)} | {_f(s['net_return'])} | "
                f"{_f(s['gross_return'])} | {_f(s['sharpe'], '{:.2f}')} ± "
                f"{_f(s['sharpe_se'], '{:.2f}')} | {_f(s['psr'], '{:.2f}')} | "
                f"{_f(s['dsr'], '{:.2f}')} | {_f(s['max_drawdown'])} | "
                f"{_f(s['excess_return'], '{:+.3f}')} [{_f(s['ci_low'], '{:+.3f}')}, "
                f"{_f(s['ci_high'], '{:+.3f}')}]{' *' if s.get('excess_significant') else ''} |"
            )
    lines += ["", "### Cost sensitivity (annualized return, same orders; mean over seeds)", ""]
    costs = metrics["cost_sensitivity"]
    mults = sorted({k for v in costs.values() for k in v}, key=lambda k: float(k[:-1]))
    lines.append("| strategy | " + " | ".join(f"{m} costs" for m in mults) + " |")
    lines.append("| --- |" + " ---: |" * len(mults))
    for name in _ordered(costs):
        cells = [_f(costs[name].get(m)) for m in mults]
        lines.append(
            f"| {registry.label(name)} | " + " | ".join(_hide(name, cells, untradable)) + " |"
        )
    lines += ["", "### Paired daily return differences (annualized mean, block bootstrap)", ""]
    lines.append("| pair | seed | mean | interval | excludes 0 |")
    lines.append("| --- | --- | ---: | ---: | --- |")
    paired_runs = [(label, m.get("paired") or {}) for label, m in metrics["per_seed"].items()]
    if metrics["ensemble"]["paired"]:
        paired_runs.append(("ensemble", metrics["ensemble"]["paired"]))
    significant = total = 0
    shown: set[tuple] = set()
    for label, paired in paired_runs:
        for pair, ci in paired.items():
            key = (pair, ci["mean"], ci["ci_low"], ci["ci_high"])
            if key in shown:  # a seed-independent pair (momentum-equal_weight): once
                continue
            shown.add(key)
            total += 1
            significant += bool(ci["excludes_zero"])
            lines.append(
                f"| {pair} | {label} | {_f(ci['mean'], '{:+.3f}')} | "
                f"[{_f(ci['ci_low'], '{:+.3f}')}, {_f(ci['ci_high'], '{:+.3f}')}] | "
                f"{'yes' if ci['excludes_zero'] else 'no'} |"
            )
    level = cfg.ci_level
    lines.append("")
    lines.append(
        f"{significant} of {total} intervals exclude 0; with no true difference about "
        f"{(1 - level) * total:.1f} would by chance ({1 - level:.0%} each; the pairs share data, "
        "so they are not independent). cnn_lstm-cnn is timing's contribution."
    )
    yearly = metrics["yearly"]
    years = sorted({y for v in yearly.values() for y in v})
    lines += ["", "### Yearly returns (mean over seeds)", ""]
    lines.append("| strategy | " + " | ".join(years) + " |")
    lines.append("| --- |" + " ---: |" * len(years))
    for name in _ordered(yearly):
        cells = _hide(name, [_f(yearly[name].get(y)) for y in years], untradable)
        lines.append(f"| {registry.label(name)} | " + " | ".join(cells) + " |")
    lines += ["", "### Models out of sample, per seed", ""]
    lines.append(
        "| seed | CNN IC (NW t) | rank IC (NW t) | ICIR | top-decile hit | CNN best epoch / val "
        "AUC | LSTM AUC [interval] | base rate up | accuracy - base | share +1 |"
    )
    lines.append("| --- |" + " ---: |" * 9)
    model_runs = list(metrics["per_seed"].items())
    if metrics["ensemble"]["lstm"] or metrics["ensemble"]["cnn"]:
        model_runs.append(("ensemble", metrics["ensemble"]))
    for label, m in model_runs:
        cnn = m.get("cnn") or {}
        sk = (m.get("lstm") or {}).get("skill") or {}
        nets = (m.get("training") or {}).get("cnn", [])
        trained = ", ".join(
            f"{_f(t.get('best_epoch'), '{:.0f}')} / {_f(t.get('val/auc'))}" for t in nets[:3]
        ) + (" ..." if len(nets) > 3 else "")
        lines.append(
            f"| {label} | {_f(cnn.get('mean_ic'))} ({_f(cnn.get('ic_nw_t'), '{:.2f}')}) | "
            f"{_f(cnn.get('mean_rank_ic'))} ({_f(cnn.get('rank_ic_nw_t'), '{:.2f}')}) | "
            f"{_f(cnn.get('ic_ir'), '{:.2f}')} | {_f(cnn.get('top_decile_hit_rate'))} | "
            f"{trained or '-'} | {_f(sk.get('auc'))} [{_f(sk.get('auc_low'))}, "
            f"{_f(sk.get('auc_high'))}] | {_f(sk.get('base_rate'))} | "
            f"{_f(sk.get('accuracy_over_base'), '{:+.3f}')} | {_f(sk.get('share_up_signals'))} |"
        )
    lines.append("")
    lstm_fits = [
        n for m in metrics["per_seed"].values() for n in (m.get("training") or {}).get("lstm", [])
    ]
    lines += [describe_lstm_training(lstm_fits[0]), ""] if lstm_fits else []  # issue 10 item 7
    lines += sections.nulls_markdown(metrics) + sections.deciles_markdown(metrics)
    lines += sections.qlib_markdown(metrics)
    lines += [""] if metrics["per_seed"] else []
    lines.append(
        f"Benchmark: {metrics['benchmark']['label']}. Intervals: {level:.0%} circular block "
        f"bootstrap ({cfg.bootstrap_block_days}-day blocks), * = excludes 0; LSTM AUC: "
        f"{cfg.auc_samples} row resamples. Newey-West lags per the NW (1994) rule. DSR: "
        "Bailey & Lopez de Prado (2014) with the trials recorded in the MLflow experiment."
    )
    lines += [f"Note: {x}" for x in metrics["notes"]]
    lines += ["", *decisions_markdown(metrics["decisions"], level)]
    lines += ["", "### Notes: rule counts, capacity, missing signals", ""]
    lines += notes_markdown(metrics["notes_table"], [str(s) for s in metrics["per_seed"]])
    return "\n".join(lines) + "\n"
