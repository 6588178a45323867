"""Issue 9 item 5: a tracking store shared by two data directories is reported, not silent.

An MLflow experiment's artifact location is fixed when it is created, so with one tracking
database for two data directories every run's artifacts went into the first one's without a word.
"""

from __future__ import annotations

import warnings

import pytest

from cnnlstm.infra import tracking

pytestmark = [
    pytest.mark.slow,  # MLflow creates its SQLite schema: tens of seconds on a busy machine
    pytest.mark.filterwarnings(
        "ignore::DeprecationWarning:mlflow.*", "ignore::DeprecationWarning:sqlalchemy.*"
    ),
]


def test_a_shared_tracking_store_that_keeps_artifacts_elsewhere_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'shared.db'}")
    monkeypatch.setenv("CNNLSTM_HOME", str(tmp_path / "first"))
    first = tracking.ensure_experiment("cnnlstm-shared")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the data directory that created it: no warning
        assert tracking.ensure_experiment("cnnlstm-shared") == first
    monkeypatch.setenv("CNNLSTM_HOME", str(tmp_path / "second"))
    with pytest.warns(UserWarning, match=r"keeps run artifacts in .*first.*not in this data"):
        assert tracking.ensure_experiment("cnnlstm-shared") == first
