"""The data update flow: bring the live source's store up to the last session, before data-health.

Input contract: `UpdateParams` (the live flows' settings: source, benchmark, market calendar,
delay, the store's `on_invalid` / `on_restated` policies). The source is one the site keeps
current: a folder a vendor writes into (`csv:`, `parquet:`, `akshare:`), a Qlib folder refreshed
by Qlib's collector (`qlib:`; docs/DEPLOY.md gives the commands), or an online source where the
`online` extra is installed (`akshare-online:`, `yfinance:`). The store's own ingest writes it
(`tasks.data.update`), so validation and the restatement policy are those of every ingest.
What changed (rows added, restated, symbols new or gone, the last session now held) is a Prefect
markdown artifact; a store that does not reach the expected session (the exchange calendar's last
completed session, or `as_of`) fails the run red with both dates.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.logging import get_run_logger

from cnnlstm.flows.live import LiveParams
from cnnlstm.flows.ops import TIMEOUTS, retry_transient, run_namer
from cnnlstm.flows.stages.data import default_store
from cnnlstm.flows.stages.publish import publish_markdown
from cnnlstm.tasks.data.update import UpdateReport, update_store
from cnnlstm.tasks.live.sessions import StaleDataError


class UpdateParams(LiveParams):
    """What the data update takes (the live flows' source and calendar)."""


@task(name="update-store", retries=3, retry_delay_seconds=60, retry_condition_fn=retry_transient)
def update_store_task(params: UpdateParams, expected) -> UpdateReport:  # noqa: ANN001
    """Ingest the source into its store (retried only for transient errors of an online source)."""
    data = params.data
    return update_store(
        data.source,
        default_store(data),
        expected,
        benchmark=data.benchmark,
        source_options=data.reader_options(),
        on_invalid=data.on_invalid,
        on_restated=data.on_restated,
    )


@flow(
    name="data_update",
    description="Bring the source's store up to the last completed session (before data-health).",
    flow_run_name=run_namer("data-update"),
    timeout_seconds=TIMEOUTS["data_update"],
)
def data_update_flow(params: UpdateParams = UpdateParams()) -> UpdateReport:  # noqa: B008
    """Ingest what is new, report what changed, fail red when the session was not reached."""
    params.require_source()  # never the simulator in production, never no source
    logger = get_run_logger()
    cal = params.calendar_of()
    if params.as_of is None:
        expected = cal.last_completed_session(params.clock(), params.delay())
    else:
        day = params.as_of
        expected = day if cal.is_session(day) else cal.previous_session(day)
    report = update_store_task(params, expected)
    publish_markdown(
        report.markdown(f"Data update to {expected} ({cal.name})"), "data-update", "Data update"
    )
    for line in report.lines():
        logger.info(line)
    if not report.advanced:
        raise StaleDataError(
            f"stale data: the source {params.data.source} did not advance to {expected}: the "
            f"store's last session is {report.last_after or 'none'} ({report.rows_added} rows "
            "added); has the vendor's export or the collector run?"
        )
    return report
