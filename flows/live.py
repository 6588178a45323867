"""What the scheduled live flows share: their parameters, the source guard, the calendar.

Every live flow (daily timing, monthly selection, data health, data update, monitor) takes a
subclass of `LiveParams`: the day, the source, the market and its calendar, the feed's delay
and the registry names of the production models. Where the other live concerns live: the live
folder's files (`tasks.live.files`), the session guards (`tasks.live.sessions`), the champion
(`infra.champion`), the stages the flows chain (`flows.stages.live`).

Sessions come from the exchange calendar of the market preset (`cn`: XSHG, `us`: XNYS; the
simulated market: its own calendar), overridable with `calendar`.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.sessions import (
    SessionCalendar,
    calendar_name,
    exchange_calendar,
    extend_calendar,
    load_calendar_extra,
)
from cnnlstm.flows.lineage import lineage_of
from cnnlstm.flows.params import DataParams
from cnnlstm.infra import tracking
from cnnlstm.infra.champion import ChampionQuery
from cnnlstm.tasks.live.sessions import require_closed, sim_session_calendar

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

    def champion_query(self, network: str) -> ChampionQuery:
        """Where the champion of `network` for the flow's dataset is looked up."""
        return ChampionQuery(
            name=self.registered_name(network),
            alias=self.alias,
            lineage=self.dataset(),
            source=self.data.source,
            market=self.market,
        )

    def require_closed(self, cal: SessionCalendar, session: date) -> None:
        """Fail unless `session`'s close plus the data delay has passed (`TooEarlyError`)."""
        require_closed(cal, session, self.clock(), self.delay())


def session_calendar(
    data: DataParams, market: str, override: str | None = None, extra: Path | None = None
) -> SessionCalendar:
    """The calendar a live flow runs on: the simulated market's own, else the exchange's.

    `extra` (a `calendar_extra` file) adds the sessions after the library's last year.
    """
    if data.is_sim and override is None:
        cal = sim_session_calendar(data.sim.start, data.sim.end)
    else:
        cal = exchange_calendar(calendar_name(market, override))
    return cal if extra is None else extend_calendar(cal, load_calendar_extra(extra))
