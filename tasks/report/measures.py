"""What a run measures, typed: the models whose dump is `metrics.json`.

`SeedMetrics` is one backtest's report (one seed, or the seed ensemble); `RunMetrics` the report
over the seeds, the top model of `metrics.json`. Every model refuses a key it does not know, so
a misspelt metric is an error where it is written or read, never an "n/a" cell.

Numbers are `float | None`: NaN in memory, `null` in the file (an undefined ratio, a statistic
with too few observations). A count that is averaged over seeds is `int | float` (an int per
seed, a mean over seeds). Open mappings are keyed by a strategy (`tasks.strategy.registry`), a
seed label, a cost multiple (`"2x"`), a year or a bucket.

`dump_metrics` writes the file: keys sorted, so the same run gives the same bytes; the keys a
model was given are the keys written (`exclude_unset`), so a section keeps its shape.
`load_metrics` reads it back through `RunMetrics.model_validate_json`.
"""

from __future__ import annotations

import json
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

Number = float | None
Count = int | float  # a count per seed; its mean over seeds


class Record(BaseModel):
    """A section of the report: known keys only."""

    model_config = ConfigDict(extra="forbid")


class Period(Record):
    """The test period (ISO dates)."""

    start: str
    end: str


class BenchmarkInfo(Record):
    """The benchmark's label, and whether it is the derived equal-weighted universe."""

    label: str
    derived: bool


class Bootstrap(Record):
    """How the block-bootstrap intervals were drawn."""

    bootstrap_block_days: int
    bootstrap_samples: int
    level: float
    seed: int


class Performance(Record):
    """Table 2's numbers of one strategy or index (`tasks.report.metrics.performance`)."""

    annualized_return: Number
    max_drawdown: Number
    volatility: Number
    sharpe: Number
    sortino: Number
    calmar: Number
    turnover: Number
    avg_position_ratio: Number
    total_costs: Number
    final_nav: Number


class StrategyRow(Performance):
    """A traded strategy's (or the benchmark's) Table 2 row: excess return, Sharpe's evidence."""

    excess_return: Number
    ci_low: Number
    ci_high: Number
    excess_significant: bool
    blocked_attempts: int
    sharpe_se: Number
    psr: Number
    dsr: Number
    sr0: Number
    net_return: Number
    gross_return: Number


class IndexRow(Performance):
    """A frictionless equal-weighted universe index (not traded: no excess, no blocks)."""

    sharpe_se: Number
    psr: Number
    dsr: Number
    sr0: Number
    n_trials: int
    skew: Number
    kurtosis: Number
    n: int
    net_return: Number
    gross_return: Number


class SeedStat(Record):
    """One number over the seeds (`tasks.report.stats.over_seeds`)."""

    mean: Number
    std: Number
    min: Number
    max: Number
    n: int


#: Table 2's numbers over seeds: every number of a strategy's or an index's row.
TABLE2_KEYS = tuple(
    name
    for name in dict.fromkeys([*StrategyRow.model_fields, *IndexRow.model_fields])
    if name != "excess_significant"  # a flag, not a number
)

Table2Stats = create_model(
    "Table2Stats",
    __base__=Record,
    __doc__="A strategy's Table 2 over the seeds: each number's mean, std, min, max.",
    **{name: (SeedStat | None, None) for name in TABLE2_KEYS},
)

Table2Means = create_model(
    "Table2Means",
    __base__=Record,
    __doc__="A strategy's Table 2 numbers averaged over the seeds.",
    **{name: (Number, None) for name in TABLE2_KEYS},
)


class MonthlyIc(Record):
    """One test month's IC, rank IC and top-minus-median spread."""

    month: str
    n: int
    ic: Number
    rank_ic: Number
    top_minus_median: Number


class CnnSkill(Record):
    """The CNN out of sample: monthly IC / rank IC, Newey-West t, top-decile hit rate."""

    months: int
    mean_ic: Number
    ic_ir: Number
    mean_rank_ic: Number
    mean_top_minus_median: Number
    monthly: list[MonthlyIc]
    ic_nw_t: Number
    rank_ic_nw_t: Number
    nw_lags: int
    rank_ic_ir: Number
    top_decile_hit_rate: Number
    top_decile_n: int


class CnnMeans(Record):
    """`CnnSkill`'s numbers averaged over the seeds (those finite in some seed)."""

    months: Number = None
    mean_ic: Number = None
    ic_ir: Number = None
    mean_rank_ic: Number = None
    mean_top_minus_median: Number = None
    ic_nw_t: Number = None
    rank_ic_nw_t: Number = None
    nw_lags: Number = None
    rank_ic_ir: Number = None
    top_decile_hit_rate: Number = None
    top_decile_n: Number = None


class LstmAuc(Record):
    """The LSTM's out-of-sample AUC with its bootstrap interval, base rate, share of +1."""

    auc: Number
    auc_low: Number
    auc_high: Number
    base_rate: Number
    accuracy_over_base: Number = None
    share_up_signals: Number = None


class LstmSkill(Record):
    """The LSTM out of sample: accuracy, precision, CNN-LSTM's round-trip hit rate, AUC."""

    n: int
    accuracy: Number
    precision: Number
    share_up: Number
    round_trips: int
    hit_rate: Number
    skill: LstmAuc | None = None


class LstmMeans(Record):
    """`LstmSkill`'s numbers (its AUC's included) averaged over the seeds."""

    n: Number = None
    accuracy: Number = None
    precision: Number = None
    share_up: Number = None
    round_trips: Number = None
    hit_rate: Number = None
    auc: Number = None
    auc_low: Number = None
    auc_high: Number = None
    base_rate: Number = None
    accuracy_over_base: Number = None
    share_up_signals: Number = None


class PairedDiff(Record):
    """Annualized mean daily return difference of a pair with its block-bootstrap interval."""

    mean: Number
    ci_low: Number
    ci_high: Number
    level: float
    excludes_zero: bool


class Commission(Record):
    """How the minimum commission weighs on a strategy's typical slot."""

    median_slot: Number
    min_commission_share: Number
    share_at_minimum: Number
    exceeds: bool
    capital_to_avoid: Number


class EqualWeightBaseline(Record):
    """The traded equal-weighted universe: whether whole lots fit the capital."""

    label: str
    capital: float
    capital_needed: Number
    tradable: bool
    text: str | None = None  # why it is not shown, when it does not fit the capital


class Label(Record):
    """What a baseline is, in words."""

    label: str


class Baselines(Record):
    """What each equal-weighted baseline is."""

    equal_weight: EqualWeightBaseline
    ew_index: Label
    ew_index_monthly: Label


class DecileCell(Record):
    """A score decile's mean forward return with its Newey-West t."""

    mean: Number
    t: Number
    months: Count


class Deciles(Record):
    """The CNN's score deciles' forward returns (per seed, or averaged over seeds)."""

    convention: str
    deciles: dict[str, DecileCell]
    top_minus_bottom: Number = None
    top_minus_bottom_t: Number = None
    monotonicity_spearman: Number = None
    months: Count = None
    selected: DecileCell | None = None
    seeds: int | None = None  # over seeds: how many had deciles


class Bucket(Record):
    """One bucket of the LSTM's probability of up: its range and realized return."""

    prob_low: Number
    prob_high: Number
    mean_return: Number
    share_up: Number
    n: int


class LstmBuckets(Record):
    """The LSTM's realized return by bucket of its probability of up."""

    convention: str
    buckets: dict[str, Bucket]
    monotonicity_spearman: Number


class NullBand(Record):
    """A null baseline's draws: mean and 5-95% band, and where the strategy falls in it."""

    strategy: str | None = None  # per seed only
    statistic: str | None = None  # per seed only
    draws: Count
    mean: Number
    p05: Number
    p95: Number
    strategy_value: Number
    percentile: Number
    lstm_buy_share: Number = None  # the timing null's share of +1


class QlibRow(Record):
    """A strategy in Qlib's conventions."""

    excess_return: Number
    information_ratio: Number
    max_drawdown: Number


class QlibCnn(Record):
    """The CNN's IC in Qlib's conventions."""

    convention: str
    ic: Number = None
    icir: Number = None
    rank_ic: Number = None
    rank_icir: Number = None


class Qlib(Record):
    """The Qlib-convention rows, to set beside Qlib's model zoo."""

    convention: str
    strategies: dict[str, QlibRow]
    cnn: QlibCnn | None = None


class Selection(Record):
    """How many stocks the CNN selected per month, and the months below the minimum."""

    min_per_month: int
    months_below: int
    months: int


class SeedMetrics(Record):
    """One backtest's report: one seed, or the seed ensemble."""

    period: Period
    benchmark: BenchmarkInfo
    strategies: dict[str, StrategyRow]
    bootstrap: Bootstrap
    cnn: CnnSkill | None
    lstm: LstmSkill | None
    notes: list[str]
    n_trials: int
    cost_sensitivity: dict[str, dict[str, Number]]
    paired: dict[str, PairedDiff]
    yearly: dict[str, dict[str, Number]]
    training: dict[Literal["cnn", "lstm"], list[dict[str, Number]]]
    commission: dict[str, Commission]
    ew_index: IndexRow | None = None
    ew_index_monthly: IndexRow | None = None
    baselines: Baselines
    deciles: Deciles | None
    lstm_buckets: LstmBuckets | None
    nulls: dict[str, NullBand]
    selection: Selection | None = None
    qlib: Qlib


class Caveat(Record):
    """A warning that the evidence is thin: a stable code (MLflow tag `caveat.<code>`)."""

    code: str
    severity: Literal["high", "medium", "low"]
    message: str


class Universe(Record):
    """The universe rule in one line, and the membership table's coverage when there is one."""

    rule: str
    name: str | None = None
    months: int | None = None
    span: str | None = None
    min_members: int | None = None
    max_members: int | None = None
    without_data: list[str] | None = None
    missing_member_days: int | None = None
    member_days: int | None = None


class Ensemble(Record):
    """The seed ensemble's strategies (`cnn_ensemble`, `cnn_lstm_ensemble`) and model skill."""

    strategies: dict[str, StrategyRow]
    cnn: CnnSkill | None
    lstm: LstmSkill | None
    paired: dict[str, PairedDiff] | None
    nulls: dict[str, NullBand] | None


class NoteRow(Record):
    """One row of the notes table: a count (or a text: `True`) per seed label."""

    topic: str
    strategy: str
    item: str
    values: dict[str, bool | int]


class Estimate(Record):
    """An estimate with its interval."""

    mean: float
    ci_low: float
    ci_high: float


class Decision(Record):
    """A comparison that decides, over the seeds and for the seed ensemble."""

    key: str
    label: str
    mean: float
    std: float | None
    seeds: dict[str, Estimate]
    excluding_zero: int
    ensemble: Estimate | None


class RunMetrics(Record):
    """The report over the seeds: the top model of `metrics.json`."""

    period: Period
    benchmark: BenchmarkInfo
    seeds: list[int]
    n_trials: int
    caveats: list[Caveat]
    universe: Universe
    table2: dict[str, Table2Stats]
    strategies: dict[str, Table2Means]
    ensemble: Ensemble
    per_seed: dict[str, SeedMetrics]
    cost_sensitivity: dict[str, dict[str, Number]]
    yearly: dict[str, dict[str, Number]]
    cnn: CnnMeans | None
    lstm: LstmMeans | None
    baselines: Baselines | None
    qlib: Qlib | None
    deciles: Deciles | None
    nulls: dict[str, NullBand]
    bootstrap: Bootstrap
    notes: list[str]
    notes_table: list[NoteRow]
    decisions: list[Decision] = Field(default_factory=list)


def _jsonable(obj):
    """NaN (an undefined number) becomes null; everything else as JSON knows it."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dump_metrics(metrics: RunMetrics) -> str:
    """`metrics.json`'s text: the model's dump, keys sorted (the same run, the same bytes)."""
    data = _jsonable(metrics.model_dump(mode="json", exclude_unset=True))
    return json.dumps(data, indent=2, sort_keys=True)


def load_metrics(text: str | bytes) -> RunMetrics:
    """`metrics.json` read back; an unknown key or a wrong type is a `ValidationError`."""
    return RunMetrics.model_validate_json(text)


def metrics_schema() -> str:
    """The JSON Schema of `metrics.json` (committed as `docs/metrics.schema.json`)."""
    return json.dumps(RunMetrics.model_json_schema(), indent=2, sort_keys=True) + "\n"
