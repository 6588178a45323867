"""What the scheduled flows share: sessions, freshness, the champion, its settings, files.

Input contract: the data directory (`cnnlstm.core.paths.data_home`) and the MLflow registry of
`infra.tracking`. Each dataset (`LiveParams.dataset_key`) has its own live folder
`live/<dataset>/`: the published selection of month t is `selection-YYYY-MM.parquet`; the daily
timing state is `timing-state.json` (the decision month and each symbol's decisions so far);
each day's orders are `orders-YYYY-MM-DD.parquet`; the paper book is `book.sqlite`. Files are
written atomically, under the dataset's file lock.

Sessions come from the exchange calendar of the market preset (`cn`: XSHG, `us`: XNYS; the
simulated market: its own calendar), overridable with `calendar`. A live run acts for a day:
the flow checks that the session's close plus `data_delay_minutes` has passed (else it fails:
too early) and that the data reach the session it needs (else it fails: stale data), so a dead
feed is red, never a quiet green.

The champion is the model tagged `champion` of the dataset's registered models
(`<prefix>-<dataset>-cnn/-lstm`, see `cnnlstm.flows.lineage`); a version whose lineage tags name
another dataset is refused, and the live settings (window, hold days, execution, selection size)
are read from the champion run's logged parameters: a flow's own value must match or the run
fails naming both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core import files
from cnnlstm.core.errors import UserInputError
from cnnlstm.core.paths import data_home
from cnnlstm.core.sessions import (
    SIM_CALENDAR,
    SessionCalendar,
    calendar_from_sessions,
    calendar_name,
    exchange_calendar,
    extend_calendar,
    load_calendar_extra,
)
from cnnlstm.flows.lineage import lineage_of
from cnnlstm.flows.params import DataParams
from cnnlstm.infra import tracking
from cnnlstm.tasks.strategy.select import SelectionConfig


class StaleDataError(UserInputError):
    """The data do not reach the session a live flow needs (a dead or late feed)."""


class TooEarlyError(UserInputError):
    """The session a live flow acts for has not closed (plus the data delay) yet."""


class NoChampionError(UserInputError):
    """The dataset has no production model: nothing unvetted goes live."""


class LineageError(UserInputError):
    """The champion was trained on another dataset, or its settings differ from the flow's."""


#: The setting that lets the live flows run on the simulated market (tests and demos only).
ALLOW_SIM_ENV = "CNNLSTM_LIVE_ALLOW_SIMULATOR"
#: The variable `prefect deploy` reads the live source from (prefect.yaml's `{{ $... }}`).
LIVE_SOURCE_ENV = "CNNLSTM_LIVE_SOURCE"


class LiveSourceError(UserInputError):
    """A live flow was given no real source (the simulator, or an unset deployment variable)."""


def require_live_source(data: DataParams, allow_simulator: bool = False) -> None:
    """Refuse the simulated market (unless allowed) and an unresolved deployment template.

    Raises:
        LiveSourceError: naming what to set and how.
    """
    if "{{" in data.source or not data.source.strip():
        raise LiveSourceError(
            f"the live source is {data.source!r}: {LIVE_SOURCE_ENV} was not set when the "
            f"deployments were made; export {LIVE_SOURCE_ENV}=KIND:PATH (e.g. "
            "qlib:/data/qlib/cn_data) and run `prefect --no-prompt deploy --all` again, or give "
            "the deployment's params.data.source (docs/DEPLOY.md)"
        )
    allowed = allow_simulator or os.environ.get(ALLOW_SIM_ENV, "").strip() == "1"
    if data.is_sim and not allowed:
        raise LiveSourceError(
            "the live flows need a real source, not the simulated market: set "
            f"params.data.source (KIND:PATH; deployments: {LIVE_SOURCE_ENV} before `prefect "
            "deploy`; command line: --source), or allow the simulator for a demo "
            f"(allow_simulator=true, --allow-simulator, or {ALLOW_SIM_ENV}=1)"
        )


class LiveFirst(BaseModel):
    """What a person running a live flow sets first: the day (the form opens with it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    as_of: date | None = Field(None, description="the day to act for; none: today (exchange time)")


class LiveParams(LiveFirst):
    """Settings shared by the scheduled flows: the day, the source, then the rest.

    A flow's own first fields go into a subclass of `LiveFirst` that its parameters also
    inherit, after `LiveParams` (`class DailyParams(LiveParams, DailyFirst)`): pydantic orders
    fields by the classes' reversed MRO, so the form reads as-of, those fields, the source.
    """

    data: DataParams = Field(
        default_factory=DataParams,
        title="Data",
        description="the source to ingest new bars from (its first field: source)",
    )
    market: Literal["cn", "us"] = Field(
        "cn", description="market preset: trading rules, costs and the exchange calendar"
    )
    calendar: str | None = Field(
        None, description="exchange-calendars code overriding the market's (XSHG, XNYS, ...)"
    )
    calendar_extra: Path | None = Field(
        None,
        description="file of the sessions after exchange-calendars' last year: `through DATE`, "
        "then `DATE holiday name` lines (docs/DEPLOY.md)",
    )
    data_delay_minutes: int = Field(
        60, ge=0, le=24 * 60, description="minutes after the close until the feed has the bars"
    )
    model_prefix: str = Field("cnnlstm", description="registered models <prefix>-<dataset>-cnn")
    alias: str = Field(tracking.CHAMPION, description="registry alias of the production models")
    now: datetime | None = Field(
        None, description="the clock (replays and tests); none: the real time"
    )
    allow_simulator: bool = Field(
        False,
        description="allow the simulated market as the live source (demos, tests); a production "
        f"deployment must name its source. Also {ALLOW_SIM_ENV}=1",
    )

    def require_source(self) -> None:
        """Refuse to act on the simulated market (unless allowed) or without a source.

        Every live flow calls it first (a check at run time, not in validation: the flows'
        default parameters are built when their modules are imported).

        Raises:
            LiveSourceError: naming what to set and how.
        """
        require_live_source(self.data, self.allow_simulator)

    def clock(self) -> datetime:
        """The current time, timezone-aware."""
        now = self.now or datetime.now(UTC)
        return now if now.tzinfo else now.replace(tzinfo=UTC)

    def calendar_of(self) -> SessionCalendar:
        """The session calendar of the flow's data and market."""
        return session_calendar(self.data, self.market, self.calendar, self.calendar_extra)

    def day(self) -> date:
        """The day the flow acts for: `as_of`, else today in the exchange's time zone."""
        return self.as_of or self.calendar_of().today(self.clock())

    def delay(self) -> timedelta:
        """The feed's delay after the close."""
        return timedelta(minutes=self.data_delay_minutes)

    def dataset(self) -> tracking.Lineage:
        """The lineage of the flow's data (its dataset key)."""
        return lineage_of(self.data, self.market)

    def dataset_key(self) -> str:
        """The dataset key naming the flow's live folder and book (`live/<dataset>/`)."""
        return self.dataset().dataset

    def registered_name(self, network: str) -> str:
        """The registered model of `network` for the flow's dataset."""
        return tracking.registry_name(self.model_prefix, network, self.dataset())


def session_calendar(
    data: DataParams, market: str, override: str | None = None, extra: Path | None = None
) -> SessionCalendar:
    """The calendar a live flow runs on: the simulated market's own, else the exchange's.

    `extra` (a `calendar_extra` file) adds the sessions after the library's last year.
    """
    cal = _base_calendar(data, market, override)
    return cal if extra is None else extend_calendar(cal, load_calendar_extra(extra))


def _base_calendar(data: DataParams, market: str, override: str | None) -> SessionCalendar:
    if data.is_sim and override is None:
        from cnnlstm.tasks.data.sources.sim_calendar import FIXED_HOLIDAYS, trading_calendar

        cal = trading_calendar(data.sim.start, data.sim.end)
        days = [d.astype(object) for d in cal.days]
        names = {1: "New Year's Day", 5: "Labour Day", 10: "National Day"}
        holidays: dict[date, str] = {}
        for year in range(data.sim.start.year, data.sim.end.year + 1):
            for month, day in FIXED_HOLIDAYS:
                holidays[date(year, month, day)] = names.get(month, "holiday")
        return calendar_from_sessions(
            SIM_CALENDAR,
            days,
            tz="Asia/Shanghai",
            close=time(15, 0),
            holiday_names=holidays,
            first=data.sim.start,
            last=data.sim.end,
        )
    return exchange_calendar(calendar_name(market, override))


def require_closed(cal: SessionCalendar, session: date, params: LiveParams) -> None:
    """Fail unless `session`'s close plus the data delay has passed.

    Raises:
        TooEarlyError: the session is not complete yet.
    """
    ready = cal.close_at(session) + params.delay()
    if params.clock() < ready:
        raise TooEarlyError(
            f"{cal.name} session {session} is not complete: its close plus the data delay "
            f"({params.data_delay_minutes} min) is {ready.isoformat()}, now is "
            f"{params.clock().astimezone(ready.tzinfo).isoformat()}"
        )


def require_fresh(last_bar: date | None, needed: date, *, what: str, source: str) -> None:
    """Fail when the data's last bar comes before the session the flow needs.

    Raises:
        StaleDataError: with both dates and the source.
    """
    if last_bar is None or last_bar < needed:
        raise StaleDataError(
            f"stale data: {what} needs bars through {needed}, but {source} ends "
            f"{last_bar or 'with no bars'}; is the feed down? (run `cnnlstm data-health`)"
        )


def live_dir(dataset: str) -> Path:
    """The folder of one dataset's published selections, timing state, orders and book."""
    path = data_home() / "live" / dataset
    path.mkdir(parents=True, exist_ok=True)
    return path


def selection_path(dataset: str, month: date) -> Path:
    """Where month `month`'s published selection lives."""
    return live_dir(dataset) / f"selection-{month:%Y-%m}.parquet"


def scores_path(dataset: str, month: date) -> Path:
    """Where month `month`'s CNN scores of every eligible stock live (the monitor reads them)."""
    return live_dir(dataset) / f"scores-{month:%Y-%m}.parquet"


def signals_path(dataset: str, day: date) -> Path:
    """Where the LSTM signals decided after `day`'s close live (the monitor reads them)."""
    return live_dir(dataset) / f"signals-{day}.parquet"


def orders_path(dataset: str, day: date) -> Path:
    """Where the orders decided after `day`'s close live."""
    return live_dir(dataset) / f"orders-{day}.parquet"


def state_path(dataset: str) -> Path:
    """The daily timing state of one dataset."""
    return live_dir(dataset) / "timing-state.json"


def stage_file(frame_or_text: pl.DataFrame | str, path: Path) -> Path:
    """Write a frame (Parquet) or text beside `path` under a temporary name; returns it.

    `files.commit(tmp, path)` commits it; a staged file never replaces anything.
    """
    if isinstance(frame_or_text, pl.DataFrame):
        return files.stage(path, frame_or_text.write_parquet)
    return files.stage(path, frame_or_text)


def write_atomic(frame_or_text: pl.DataFrame | str, path: Path) -> Path:
    """Write a frame (Parquet) or text to `path` through a temporary file."""
    return files.commit(stage_file(frame_or_text, path), path)


#: Seconds a live flow waits for another run of the same dataset to finish.
LOCK_TIMEOUT_S = 600.0


@contextmanager
def live_lock(dataset: str) -> Iterator[None]:
    """An exclusive lock on one dataset's live state (a second writer waits, then fails).

    Raises:
        UserInputError: another run held the lock for `LOCK_TIMEOUT_S` seconds.
    """
    with files.locked(
        live_dir(dataset) / ".lock", timeout=LOCK_TIMEOUT_S, what=f"the live state of {dataset}"
    ):
        yield


def read_state(dataset: str) -> dict:
    """The daily timing state (empty before the first run)."""
    path = state_path(dataset)
    return json.loads(path.read_text()) if path.exists() else {}


def write_state(dataset: str, state: dict | str) -> Path:
    """Persist the daily timing state (a mapping or its JSON text) for the next day's run."""
    text = state if isinstance(state, str) else json.dumps(state, indent=1, sort_keys=True)
    return write_atomic(text, state_path(dataset))


class Champion(BaseModel):
    """The production model a live flow uses, with its lineage and its run's parameters."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    run_id: str
    tags: dict[str, str]
    params: dict[str, str]


def champion(network: str, params: LiveParams) -> Champion:
    """The `<prefix>-<dataset>-<network>@<alias>` version, refused if its lineage differs.

    Raises:
        NoChampionError: no version of the dataset carries the alias.
        LineageError: the version's tags name another dataset (or none).
    """
    name = params.registered_name(network)
    version = tracking.alias_version(name, params.alias)
    if version is None:
        raise NoChampionError(
            f"no model {name!r} is tagged @{params.alias} in {tracking.tracking_uri()} (dataset "
            f"{params.dataset().dataset}, source {params.data.source}): run `cnnlstm backtest` "
            f"(the backtest flow) on this source with market {params.market} (it registers "
            "challengers and promotes by its gate), or promote a version with `cnnlstm promote`"
        )
    tags = tracking.version_tags(name, version.version)
    check_lineage(tags, params.dataset(), f"{name} v{version.version}")
    return Champion(
        name=name,
        version=version.version,
        run_id=version.run_id,
        tags=tags,
        params=tracking.run_params(version.run_id),
    )


def check_lineage(tags: dict[str, str], expected: tracking.Lineage, what: str) -> None:
    """Refuse a model whose lineage tags differ from the live data's.

    Raises:
        LineageError: naming each differing tag.
    """
    wanted = expected.tags()
    wrong = {k: (tags.get(k), v) for k, v in wanted.items() if tags.get(k) != v}
    if wrong:
        detail = ", ".join(f"{k}: model {a!r}, live data {b!r}" for k, (a, b) in wrong.items())
        raise LineageError(
            f"{what} was not trained on this dataset ({detail}); train and promote a model on "
            f"{expected.dataset} instead of using it"
        )


def champion_checkpoint(found: Champion, network: str, dest: Path) -> Path:
    """Download the champion run's checkpoint of `network` into `dest`.

    Raises:
        UserInputError: the run holds no checkpoint.
    """
    import mlflow

    folder = mlflow.artifacts.download_artifacts(
        run_id=found.run_id, artifact_path=f"checkpoints/{network}", dst_path=str(dest)
    )
    checkpoints = sorted(Path(folder).glob("*.ckpt"))
    if not checkpoints:
        raise UserInputError(
            f"run {found.run_id} of {found.name} v{found.version} has no checkpoint"
        )
    return checkpoints[0]


class LiveSettings(BaseModel):
    """The settings a live flow takes from the champion's run."""

    model_config = ConfigDict(frozen=True)

    window: int
    hold_days: int
    execution: Literal["open", "close"]
    selection: SelectionConfig


#: Where each live setting is logged in a research run (flattened `ResearchParams`), first found.
_SETTING_KEYS = {
    "window": ("lstm_windows.window",),
    "hold_days": ("protocol.hold_days", "lstm_windows.horizon"),
    "execution": ("protocol.execution", "lstm_windows.execution"),
}


def _logged(params: dict[str, str], keys: tuple[str, ...], what: str, run: str) -> str:
    for key in keys:
        if key in params:
            return params[key]
    raise LineageError(f"champion run {run} logged no {what} ({' or '.join(keys)})")


def settings_from_run(run_params: dict[str, str], run_id: str) -> LiveSettings:
    """Read window, hold days, execution and selection size from a research run's parameters."""
    selection: dict[str, Any] = {}
    for field in ("top_fraction", "top_count", "min_count"):
        value = run_params.get(f"selection.{field}")
        if value is not None and value != "None":
            selection[field] = value
    return LiveSettings(
        window=int(_logged(run_params, _SETTING_KEYS["window"], "window", run_id)),
        hold_days=int(_logged(run_params, _SETTING_KEYS["hold_days"], "hold days", run_id)),
        execution=_logged(run_params, _SETTING_KEYS["execution"], "execution", run_id),
        selection=SelectionConfig(**selection),
    )


def agree(name: str, override: Any, champion_value: Any, found: Champion) -> Any:
    """The champion's value of a setting; a flow's own value (not None) must equal it.

    Raises:
        LineageError: the override differs from what the champion was trained with.
    """
    if override is not None and override != champion_value:
        raise LineageError(
            f"{name}={override!r} differs from the champion's {champion_value!r} "
            f"({found.name} v{found.version}, run {found.run_id}): drop the override or "
            "train and promote a model with it"
        )
    return champion_value


class NoSession(BaseModel):
    """A day the exchange is closed: the flow did nothing, and says why."""

    model_config = ConfigDict(frozen=True)

    day: date
    calendar: str
    reason: str

    @property
    def message(self) -> str:
        """One line for the log."""
        return f"{self.day} is not a {self.calendar} session: {self.reason}; nothing to do"
