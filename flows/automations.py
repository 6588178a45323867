"""Alerts for the live deployments: Prefect automations that notify on failed or missing runs.

Two automations:

* `cnnlstm-live-run-failed` (reactive, flow runs tagged `production`): a production run entered
  Failed, Crashed or TimedOut (a stale feed, a refused champion, a timeout, and the watchdog's
  missed session all fail red) -> a notification with the run's link, its dataset (source and
  market) and the failing check (the state's message, which names the error).
* `cnnlstm-live-watchdog-silent` (proactive, flow runs tagged `watchdog`): the watchdog
  (flows/watchdog.py, every day, weekends too) did not finish within `quiet_hours` (a dead
  scheduler or worker: nothing runs at all) -> notification. Missed sessions themselves are the
  watchdog's: it knows the exchange calendar, so weekends and holidays are not gaps, where an
  hours-based "no production run for 26 h" window fired every weekend (70 h) and holiday.

The notification goes to a Prefect notification block (a webhook: Slack, Teams, a pager, any
HTTP endpoint through `CustomWebhookNotificationBlock`). `ensure_live_alerts(url)` creates or
updates the block and both automations on the server `PREFECT_API_URL` points at:

    python -m cnnlstm.flows.automations --webhook https://hooks.example/... [--quiet-hours 26]
"""

from __future__ import annotations

import argparse
import contextlib
from datetime import timedelta
from uuid import UUID

from prefect.automations import Automation, EventTrigger, SendNotification

LIVE_TAG = "production"
FAILED = "cnnlstm-live-run-failed"
MISSING = "cnnlstm-live-watchdog-silent"
BLOCK_NAME = "cnnlstm-live-alerts"
_FAILED_EVENTS = {
    "prefect.flow-run.Failed",
    "prefect.flow-run.Crashed",
    "prefect.flow-run.TimedOut",
}
_TAGGED = {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{LIVE_TAG}"}
WATCHDOG_TAG = "watchdog"
_WATCHDOG = {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{WATCHDOG_TAG}"}
#: What a failure notification says: the run, its link, its dataset and the failing check.
FAILED_BODY = (
    "{{ flow.name }} run {{ flow_run.name }} ended {{ flow_run.state.name }}\n"
    "link: {{ flow_run|ui_url }}\n"
    "dataset: {{ flow_run.parameters.params.data.source | default('n/a') }} "
    "(market {{ flow_run.parameters.params.market | default('cn') }})\n"
    "check: {{ flow_run.state.message }}"
)


def live_alert_automations(block_id: UUID, *, quiet_hours: float = 26) -> list[Automation]:
    """The two automations (not yet saved), notifying through block `block_id`."""
    failed = Automation(
        name=FAILED,
        description="A live (production) flow run failed, crashed or timed out.",
        trigger=EventTrigger(
            expect=_FAILED_EVENTS,
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related=_TAGGED,
            posture="Reactive",
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="cnnlstm live run failed: {{ flow.name }} / {{ flow_run.name }}",
                body=FAILED_BODY,
            )
        ],
    )
    missing = Automation(
        name=MISSING,
        description=f"The live watchdog did not finish for {quiet_hours} hours.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Completed", "prefect.flow-run.Failed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related=_WATCHDOG,
            posture="Proactive",
            threshold=1,
            within=timedelta(hours=quiet_hours),
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="cnnlstm live runs are missing: the watchdog is silent",
                body=f"The watchdog (it runs every day) did not finish in the last {quiet_hours} "
                "hours: is the worker or the scheduler down? No production run is checked.",
            )
        ],
    )
    return [failed, missing]


def ensure_live_alerts(webhook_url: str, *, quiet_hours: float = 26) -> list[UUID]:
    """Create (or replace) the webhook block and both automations; returns the automation ids."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name=BLOCK_NAME,
        url=webhook_url,
        method="POST",
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
    )
    block_id = block.save(BLOCK_NAME, overwrite=True)
    ids = []
    for automation in live_alert_automations(block_id, quiet_hours=quiet_hours):
        with contextlib.suppress(ValueError):  # not there yet
            Automation.read(name=automation.name).delete()
        ids.append(automation.create().id)
    return ids


def main(argv: list[str] | None = None) -> int:
    """Command line: set up the live alerts on the configured Prefect server."""
    parser = argparse.ArgumentParser(description="Create the live alert automations.")
    parser.add_argument("--webhook", required=True, help="URL the notifications are POSTed to")
    parser.add_argument(
        "--quiet-hours", type=float, default=26, help="hours without a watchdog run to alert"
    )
    args = parser.parse_args(argv)
    for automation_id in ensure_live_alerts(args.webhook, quiet_hours=args.quiet_hours):
        print(f"automation {automation_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
