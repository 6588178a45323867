"""Flow tests: one Prefect test server for the session, quiet settings, MLflow in tmp paths."""

from __future__ import annotations

from datetime import date

import pytest

from cnnlstm.flows.params import DataParams, Period, Protocol
from cnnlstm.tasks.data.sources.sim import SimConfig

# SQLAlchemy and Starlette deprecations raised inside MLflow and Prefect's server: by module only.
FLOW_WARNING_FILTERS = [
    "ignore::DeprecationWarning:mlflow.store.*",
    "ignore::DeprecationWarning:sqlalchemy.*",
    "ignore::DeprecationWarning:starlette.*",
]


def pytest_collection_modifyitems(items):
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here):
            for spec in FLOW_WARNING_FILTERS:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """A temporary Prefect API (SQLite in its own home) shared by every flow test."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect_home")))
        mp.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        mp.setenv("DO_NOT_TRACK", "1")
        mp.setenv("PREFECT_LOGGING_LEVEL", "WARNING")
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness(server_startup_timeout=180):
            yield


@pytest.fixture()
def mlflow_tmp(tmp_path, monkeypatch):
    """MLflow tracking in a SQLite database under the test's tmp path."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


TINY_SIM = SimConfig(n_stocks=60, start=date(2010, 1, 1), end=date(2013, 12, 31), seed=3)


@pytest.fixture()
def tiny_data() -> DataParams:
    """A 60-stock, 4-year simulated market: each flow run takes seconds."""
    return DataParams(source="sim", sim=TINY_SIM)


@pytest.fixture()
def tiny_protocol() -> Protocol:
    """Train 2011-03 .. 2012-12, test 2013."""
    return Protocol(
        train=Period(start=date(2011, 3, 1), end=date(2012, 12, 31)),
        test=Period(start=date(2013, 1, 1), end=date(2013, 12, 31)),
    )
