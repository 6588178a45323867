"""The data-update flow on a real Prefect server: new files dropped into a vendor's folder advance
the store, the change is a Prefect artifact, and a folder that got nothing new fails red."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from datetime import date

import polars as pl
import pytest
from support import prefect_server, random_walk_bars

from cnnlstm.core.sessions import exchange_calendar

pytestmark = [pytest.mark.slow, pytest.mark.server]
CAL = exchange_calendar("XSHG")
DAYS = pl.Series(CAL.sessions(date(2026, 5, 6), date(2026, 6, 5)))
LAST = DAYS[-1]
SCRIPT = """
import sys
from datetime import date
from cnnlstm.flows.data_update import UpdateParams, data_update_flow
from cnnlstm.flows.params import DataParams
params = UpdateParams(data=DataParams(source="parquet:" + sys.argv[1]), market="cn",
                      as_of=date.fromisoformat(sys.argv[2]))
try:
    report = data_update_flow(params)
    print("GREEN", report.model_dump_json())
except Exception as err:
    print("RED", type(err).__name__, err)
"""


def _post(url: str, payload: dict) -> object:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def test_data_update_advances_a_folder_and_fails_red_when_nothing_arrives(tmp_path):
    bars = random_walk_bars(6, DAYS, seed=5)
    feed = tmp_path / "feed"
    feed.mkdir()
    bars.filter(pl.col("date") < LAST).write_parquet(feed / "history.parquet")
    with prefect_server(tmp_path) as (api, env):

        def update() -> str:
            done = subprocess.run(
                [sys.executable, "-c", SCRIPT, str(feed), str(LAST)],
                env=env, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            return done.stdout + done.stderr

        out = update()  # the vendor has not written the session yet
        assert "RED StaleDataError" in out and f"did not advance to {LAST}" in out, out
        day = bars.filter((pl.col("date") == LAST) & (pl.col("symbol") != "S02"))
        day.write_parquet(feed / f"{LAST}.parquet")  # the vendor drops the day's file
        out = update()
        assert "GREEN" in out, out
        report = json.loads(out.split("GREEN", 1)[1].strip().splitlines()[0])
        assert report["last_after"] == str(LAST) and report["rows_added"] == 5
        assert report["symbols_gone"] == ["S02"]
        runs = _post(f"{api}/flow_runs/filter", {"sort": "START_TIME_ASC"})
        states = [(r["name"], r["state"]["type"]) for r in runs]
        assert states == [(f"data-update/{LAST}", "FAILED"), (f"data-update/{LAST}", "COMPLETED")]
        artifacts = _post(
            f"{api}/artifacts/filter", {"artifacts": {"key": {"any_": ["data-update"]}}}
        )
        texts = sorted(a["data"] for a in artifacts)
        assert len(texts) == 2, texts
        assert any("did NOT reach the expected" in t for t in texts)
        green = next(t for t in texts if f"-> {LAST} (reached" in t)
        assert "rows added: 5" in green and "symbols gone" in green and "S02" in green
