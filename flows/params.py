"""The flows' typed parameters: frozen pydantic models composed of the stage configurations.

Prefect renders each model as a form in the UI and rejects bad values before a run starts; the
command line builds the same models. Every stage configuration is the one its `tasks/` module
defines (`SimConfig`, `CnnFeatureConfig`, `CnnTrainConfig`, `SelectionConfig`, ...), so a field
means the same thing everywhere.

Profiles: `fast` (the default; small networks and few epochs, minutes on a laptop) and `paper`
(the paper's training budget). What depends on other settings is filled by one validator of
`ResearchParams`, whichever entry point builds it (the command line, a sweep, the Prefect form, a
deployment): a partial `cnn:`/`lstm:` section starts from the profile's configuration (a field
given explicitly wins), and a missing or partial training/test period from the paper's split
(on the simulated market, the paper's proportions fitted to its span).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.months import add_months, months_spanned
from cnnlstm.core.settings_tree import merge, parse_period, set_path
from cnnlstm.infra.tracking import PromotionRule
from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.data.sources.sim import SimConfig
from cnnlstm.tasks.features import CnnFeatureConfig, LstmWindowConfig
from cnnlstm.tasks.report.build import ReportConfig
from cnnlstm.tasks.strategy.select import SelectionConfig
from cnnlstm.tasks.training.config import CnnTrainConfig, LstmTrainConfig

Profile = Literal["fast", "paper"]

#: The paper's split (Liu, Zhang & Ma 2017): train 2007-2013, test 2014-01 .. 2017-03.
PAPER_TRAIN = ("2007-01-01", "2013-12-31")
PAPER_TEST = ("2014-01-01", "2017-03-31")


class Period(BaseModel):
    """A closed date range `start .. end`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: date = Field(description="first day (inclusive)")
    end: date = Field(description="last day (inclusive)")

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end <= self.start:
            raise ValueError(f"period end {self.end} must be after its start {self.start}")
        return self

    @classmethod
    def parse(cls, text: str) -> Period:
        """Read `START:END` (ISO dates), as the command line takes it.

        Raises:
            UserInputError: not two ISO dates separated by a colon, or END before START.
        """
        start, end = parse_period(text)
        return cls(start=start, end=end)

    def __str__(self) -> str:
        return f"{self.start}:{self.end}"


class DataParams(BaseModel):
    """Where the bars come from and how bad rows are treated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(
        "sim",
        description="KIND:PATH of the bars: sim, qlib:DIR, csv:DIR, parquet:FILE, akshare:DIR, "
        "yfinance:AAPL,MSFT, akshare-online:600000,...",
    )
    source_options: dict[str, Any] = Field(
        default_factory=dict, description="options of the source's reader (e.g. columns=...)"
    )
    benchmark: str | None = Field(
        None,
        description="KIND:PATH[#SYMBOL] of the index; none: the source's own index, else an "
        "equal-weighted universe index (labelled EW_UNIVERSE)",
    )
    on_invalid: Literal["fail", "quarantine"] = Field(
        "fail", description="invalid rows fail the run, or go to a quarantine file and are counted"
    )
    store: str | None = Field(
        None, description="Parquet store folder; none: one per source under the data directory"
    )
    on_restated: Literal["fail", "replace"] = Field(
        "fail",
        description="stored rows arriving with other values (re-adjusted or corrected history) "
        "fail the run, or replace each such symbol's whole history (docs/DATA.md)",
    )
    benchmark_coverage: Literal["fail", "accept"] = Field(
        "fail",
        description="a benchmark that misses part of the test period, or has gaps longer than "
        "max_benchmark_gap_sessions, fails before training; accept: go on, the report states it",
    )
    max_benchmark_gap_sessions: int = Field(
        5, ge=0, description="longest run of the stocks' sessions without a benchmark close"
    )
    universe: str | None = Field(
        None,
        min_length=1,
        description="membership FILE (SYMBOL START END a line, or a CSV symbol,start,end): on "
        "each rebalance date only that day's members are featured, scored and traded; none: "
        "the source's own (Qlib's instruments/NAME.txt), else every stock read",
    )
    listing: str | None = Field(
        None,
        min_length=1,
        description="listing-periods FILE (same layout): an end before the data's last day is a "
        "delisting; none: the source's own (Qlib's instruments/all.txt), else inferred",
    )
    missing_members: Literal["caveat", "fail"] = Field(
        "caveat",
        description="members without data: counted, named and stated in the report (caveat), "
        "or the run refuses them (fail)",
    )
    sim: SimConfig = Field(
        default_factory=SimConfig,
        title="Simulated market (source sim only)",
        description="the simulated market's settings; ignored for other sources",
    )

    @property
    def is_sim(self) -> bool:
        """Whether the bars come from the built-in simulated market."""
        return self.source.strip().lower().split(":", 1)[0] == "sim"

    def reader_options(self) -> dict[str, Any]:
        """The keyword options `cnnlstm.tasks.data.sources.base.load_source` receives."""
        if self.is_sim:
            return self.sim.model_dump()
        return dict(self.source_options)


class Protocol(BaseModel):
    """The research split: a training period (its tail validates) and an out-of-sample test."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train: Period = Field(description="training period")
    test: Period = Field(description="test period (never seen in training)")
    execution: Literal["open", "close"] = Field(
        "open", description="signals after day d's close trade at d+1's open, or at d's close"
    )
    hold_days: int = Field(5, ge=1, le=60, description="held days a +1 signal sets (paper: 5)")

    @model_validator(mode="after")
    def _test_after_train(self) -> Protocol:
        if self.test.start <= self.train.end:
            raise ValueError(
                f"test period starts {self.test.start}, not after the training period's end "
                f"{self.train.end}: the test must be out of sample"
            )
        return self

    @classmethod
    def paper(cls, **overrides: Any) -> Protocol:
        """The paper's split (train 2007-2013, test 2014-01 .. 2017-03)."""
        return cls(
            train=Period(start=PAPER_TRAIN[0], end=PAPER_TRAIN[1]),
            test=Period(start=PAPER_TEST[0], end=PAPER_TEST[1]),
            **overrides,
        )

    @classmethod
    def fitted_to(cls, start: date, end: date, **overrides: Any) -> Protocol:
        """The paper's proportions fitted to a data span (e.g. a small simulated market).

        The first 14 months are lookback for the CNN's features; of the rest, the first 68%
        trains (the paper: 7 of 10.25 years) and the remainder tests.
        """
        first = add_months(start, 14)
        months = months_spanned(first, end)
        if months < 6:
            raise UserInputError(
                f"data span {start}..{end} is too short for a train/test split after 14 months "
                "of lookback"
            )
        train_months = max(3, round(months * 0.68))
        test_start = add_months(first, train_months)
        return cls(
            train=Period(start=first, end=_day_before(test_start)),
            test=Period(start=test_start, end=end),
            **overrides,
        )


def _day_before(day: date) -> date:
    """The calendar day before `day`."""
    return date.fromordinal(day.toordinal() - 1)


class TrackingParams(BaseModel):
    """Where and how a run is recorded in MLflow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(True, description="log the run to MLflow (MLFLOW_TRACKING_URI)")
    experiment: str = Field("cnnlstm-backtest", min_length=1, description="MLflow experiment")
    register_models: bool = Field(
        True, description="register both networks (alias 'challenger' on every training)"
    )
    model_prefix: str = Field(
        "cnnlstm",
        min_length=1,
        description="registered names: PREFIX-DATASET-cnn and PREFIX-DATASET-lstm",
    )
    promotion: PromotionRule = Field(
        default_factory=PromotionRule, description="when a challenger becomes 'champion'"
    )

    def registered_name(self, network: str, dataset: str) -> str:
        """The registry name of `network` (`cnn` or `lstm`) for a dataset key (`Lineage`)."""
        return f"{self.model_prefix}-{dataset}-{network}"


class LstmWindowParams(BaseModel):
    """How LSTM windows are cut and sampled.

    Their label horizon (`protocol.hold_days`) and the price their labels are measured from
    (`protocol.execution`) are the protocol's: one fact, one field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: int = Field(30, ge=2, description="trading days per window (the paper: 30)")
    max_windows_per_month: int | None = Field(
        2000, ge=1, description="training windows sampled per month at most (None: all)"
    )
    seed: int = Field(0, description="seed of the per-month sampling")


#: The `fast` profile's LSTM training sample: pooled windows drawn at random (seeded).
FAST_LSTM_WINDOWS = 40_000


class ResearchParams(BaseModel):
    """Everything the research backtest takes: data, split, stage configs, market, tracking."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: DataParams = Field(
        default_factory=DataParams, title="Data", description="bars and benchmark"
    )
    protocol: Protocol = Field(
        default_factory=Protocol.paper, title="Periods", description="train/test split"
    )
    profile: Profile = Field("fast", description="fast: minutes; paper: the paper's epochs")
    market: Literal["cn", "us"] = Field("cn", description="cost and trading-rule preset")
    seeds: tuple[int, ...] | None = Field(
        None,
        min_length=1,
        description="training seeds (each trains its own CNN and LSTM; Table 2 reports mean ± "
        "std over them and a seed ensemble); none: the training configs' own seed",
    )
    market_overrides: dict[str, float | int | bool | None] = Field(
        default_factory=dict, description="override preset numbers, e.g. slippage_rate=0.002"
    )
    # advanced: the defaults are the paper's (or the profile's)
    cnn_features: CnnFeatureConfig = Field(
        default_factory=CnnFeatureConfig, title="Advanced: CNN features"
    )
    lstm_windows: LstmWindowParams = Field(
        default_factory=LstmWindowParams, title="Advanced: LSTM windows"
    )
    cnn: CnnTrainConfig | None = Field(
        None, title="Advanced: CNN training", description="none: the profile's"
    )
    lstm: LstmTrainConfig | None = Field(
        None, title="Advanced: LSTM training", description="none: the profile's"
    )
    selection: SelectionConfig = Field(default_factory=SelectionConfig, title="Advanced: selection")
    report: ReportConfig = Field(default_factory=ReportConfig, title="Advanced: report")
    tracking: TrackingParams = Field(
        default_factory=TrackingParams, title="Advanced: MLflow tracking"
    )
    refresh: bool = Field(False, description="recompute every stage, ignoring cached results")

    @model_validator(mode="before")
    @classmethod
    def _complete(cls, data: Any) -> Any:
        """Fill the settings that depend on others (the same rule for every entry point)."""
        if not isinstance(data, Mapping):
            return data
        data = _complete_protocol(dict(data))
        profile = data.get("profile", "fast")
        for section in ("cnn", "lstm"):
            given = data.get(section)
            if isinstance(given, Mapping) and "profile" not in given and profile in PROFILES:
                base = profile_training(section, profile).model_dump()
                data[section] = merge(base, given)
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ResearchParams:
        self.market_config()  # reject bad overrides before the run starts
        return self

    def lstm_window_config(self) -> LstmWindowConfig:
        """The LSTM windows' configuration: its label horizon and execution are the protocol's."""
        return LstmWindowConfig(
            **self.lstm_windows.model_dump(),
            horizon=self.protocol.hold_days,
            execution=self.protocol.execution,
        )

    def training_seeds(self) -> tuple[int, ...]:
        """The seeds the run trains with (`seeds`, else the CNN config's own seed)."""
        if self.seeds:
            return tuple(dict.fromkeys(self.seeds))
        return (self.cnn_config().seed,)

    def cnn_config(self) -> CnnTrainConfig:
        """The CNN training configuration in force."""
        return self.cnn or profile_training("cnn", self.profile)

    def lstm_config(self) -> LstmTrainConfig:
        """The LSTM training configuration in force (`fast` trains on a sample of windows)."""
        return self.lstm or profile_training("lstm", self.profile)

    def effective(self) -> ResearchParams:
        """These parameters with the profile-filled training sections spelled out (what runs)."""
        return self.model_copy(update={"cnn": self.cnn_config(), "lstm": self.lstm_config()})

    def with_overrides(self, overrides: Mapping[str, Any]) -> ResearchParams:
        """A copy with dotted-path overrides applied (`{"lstm.hidden": 64}`), validated again.

        A `cnn.*`/`lstm.*` path on a section left to the profile starts from the profile's
        configuration, as in a config file.

        Raises:
            pydantic.ValidationError: a path that names no field, or a value a field rejects.
        """
        tree = self.model_dump()
        for path, value in overrides.items():
            set_path(tree, path, value)
        return type(self).model_validate(tree)

    def market_config(self) -> MarketConfig:
        """The market preset with the overrides applied."""
        return MarketConfig.preset(self.market, **self.market_overrides)

    @classmethod
    def default_sim(cls, **overrides: Any) -> ResearchParams:
        """The simulated market with the paper's split fitted to its span (unless given)."""
        return cls(**overrides)


#: History the CNN's features need before the training period (t-13 .. t-2 plus a month).
LOOKBACK_MONTHS_FOR_SPLIT = 15

PROFILES = ("fast", "paper")


def profile_training(section: str, profile: str) -> CnnTrainConfig | LstmTrainConfig:
    """A profile's training configuration of `section` (`cnn` or `lstm`).

    `fast` trains the LSTM on a sample of `FAST_LSTM_WINDOWS` pooled windows.
    """
    if section == "cnn":
        return CnnTrainConfig(profile=profile)
    if profile == "fast":
        return LstmTrainConfig(profile="fast", max_windows=FAST_LSTM_WINDOWS)
    return LstmTrainConfig(profile=profile)


def default_protocol(data: DataParams) -> Protocol:
    """The split a run gets when none is given.

    The paper's; on the simulated market the paper's when the simulation spans it (with the
    CNN's lookback), else its proportions fitted to the simulation's span.
    """
    paper = Protocol.paper()
    if not data.is_sim:
        return paper
    fits = data.sim.start <= add_months(paper.train.start, -LOOKBACK_MONTHS_FOR_SPLIT)
    fits = fits and data.sim.end >= paper.test.end
    return paper if fits else Protocol.fitted_to(data.sim.start, data.sim.end)


def _complete_protocol(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with a missing or partial `protocol.train`/`protocol.test` filled (see the module)."""
    protocol = data.get("protocol")
    if isinstance(protocol, Protocol):
        return data
    protocol = dict(protocol or {})
    if _whole(protocol.get("train")) and _whole(protocol.get("test")):
        return data
    try:
        source = data.get("data")
        source = (
            source if isinstance(source, DataParams) else DataParams.model_validate(source or {})
        )
        base = default_protocol(source)
    except (ValidationError, UserInputError):
        return data  # the data section's own validation (or the split's) reports the problem
    filled = {name: getattr(base, name).model_dump() for name in ("train", "test")}
    data["protocol"] = merge(filled, {k: _as_dict(v) for k, v in protocol.items()})
    return data


def _whole(period: Any) -> bool:
    """Whether a period is given with both ends."""
    if isinstance(period, Period):
        return True
    return isinstance(period, Mapping) and "start" in period and "end" in period


def _as_dict(value: Any) -> Any:
    """A period model as a mapping (so a partial one given beside it merges key by key)."""
    return value.model_dump() if isinstance(value, BaseModel) else value
