"""Errors a user can read, found before any server starts, and safe writes into --out.

Each case runs the installed command in a fresh process, as a user would, with its own
PREFECT_HOME: Prefect's temporary server creates `prefect.db` there when it starts, so its
absence proves that the command stopped before any server (or flow) started. The wrong-path case
stays in the default suite; the other fresh-process cases are `slow`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.states import Failed

from cnnlstm.cli.main import main
from cnnlstm.core.errors import DataValidationError, UserInputError
from cnnlstm.flows.stages.cache import transient_only
from cnnlstm.flows.stages.data import ingest
from cnnlstm.infra.outdir import check_out_dir, staged_out_dir

SIM = ["--sim", "n_stocks=20", "--sim", "start=2010-01-01", "--sim", "end=2012-12-31"]


def _cnnlstm(tmp_path: Path, *argv: str, **env: str) -> tuple[subprocess.CompletedProcess, Path]:
    prefect_home = tmp_path / "prefect-home"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    environ.update(PREFECT_HOME=str(prefect_home), **env)
    done = subprocess.run(
        [sys.executable, "-m", "cnnlstm.cli.main", *argv],
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=120,
    )
    return done, prefect_home


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    return lines[0]


def test_a_wrong_path_fails_with_one_line_before_any_server(tmp_path):
    done, prefect_home = _cnnlstm(
        tmp_path, "backtest", "--source", f"csv:{tmp_path}/no-such-folder", "--no-mlflow"
    )
    line = _one_error_line(done)
    assert "no-such-folder" in line and "does not exist" in line
    assert not (prefect_home / "prefect.db").exists()  # no Prefect server, no flow run
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_wrong_path_costs_well_under_a_second_of_cpu_in_every_process(tmp_path):
    """The whole process tree's CPU, not the wall clock (meaningless on a shared machine).

    Before: 0.95 s of the command's own CPU (polars and pydantic imported to parse a spec) and
    up to 4 s more in the temporary Prefect server's process, which finished importing Prefect's
    API before the command could exit. Now the spec is checked before those imports and the
    launcher is terminated at once.
    """
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done, _ = _cnnlstm(tmp_path, "backtest", "--source", f"csv:{tmp_path}/nowhere", "--no-mlflow")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    _one_error_line(done)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 0.8, f"{cpu:.2f} s of CPU for a wrong path"


@pytest.mark.slow  # a fresh process: ~5 s idle, far more on a loaded machine
def test_an_invalid_setting_fails_with_its_field_before_any_server(tmp_path):
    done, prefect_home = _cnnlstm(tmp_path, "backtest", *SIM, "--set", "cnn.epochs=many")
    assert "cnn.epochs:" in _one_error_line(done)
    assert not (prefect_home / "prefect.db").exists()


@pytest.mark.slow  # a fresh process: ~5 s idle, far more on a loaded machine
def test_a_wrong_benchmark_fails_with_one_line(tmp_path):
    done, prefect_home = _cnnlstm(
        tmp_path, "backtest", *SIM, "--benchmark", f"csv:{tmp_path}/index.csv", "--no-mlflow"
    )
    assert "--benchmark" in _one_error_line(done)
    assert not (prefect_home / "prefect.db").exists()


@pytest.mark.slow  # a fresh process: ~5 s idle, far more on a loaded machine
def test_a_dead_mlflow_server_fails_fast_before_training(tmp_path):
    uri = f"http://127.0.0.1:{_closed_port()}"
    done, prefect_home = _cnnlstm(tmp_path, "backtest", *SIM, MLFLOW_TRACKING_URI=uri)
    line = _one_error_line(done)
    assert uri in line and "--no-mlflow" in line
    assert not (prefect_home / "prefect.db").exists()  # found before the flow, not after training


@pytest.mark.slow  # a fresh process: ~5 s idle, far more on a loaded machine
def test_a_planted_symlink_in_out_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "results"
    out.mkdir()
    (out / "table2.md").symlink_to(victim)
    done, prefect_home = _cnnlstm(tmp_path, "backtest", *SIM, "--no-mlflow", "--out", str(out))
    line = _one_error_line(done)
    assert "symbolic link" in line and "table2.md" in line
    assert victim.read_text() == "precious"
    assert not (prefect_home / "prefect.db").exists()


def test_an_out_that_is_a_symlink_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "results").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UserInputError, match="is a symbolic link"):
        check_out_dir(tmp_path / "results")


def test_a_new_out_appears_complete_or_not_at_all(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError), staged_out_dir(out) as staging:
        (staging / "table2.md").write_text("half")
        raise RuntimeError("the run failed while writing")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    old = os.umask(0o077)
    try:
        with staged_out_dir(out) as staging:
            (staging / "table2.md").write_text("done")
            assert not out.exists()  # not visible until complete
    finally:
        os.umask(old)
    assert (out / "table2.md").read_text() == "done"
    assert (out / "table2.md").stat().st_mode & 0o777 == 0o644  # readable by a worker's user
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging folder left


def test_a_link_planted_while_the_run_writes_is_refused_and_kept_away(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "run"
    out.mkdir()
    with pytest.raises(UserInputError, match="symbolic link"), staged_out_dir(out) as staging:
        (staging / "nav.csv").write_text("a,b\n")
        (out / "nav.csv").symlink_to(victim)  # planted between the check and the publish
    assert victim.read_text() == "precious"


def test_user_errors_are_never_retried_transient_ones_are():
    assert not transient_only(None, None, Failed(data=UserInputError("bad path")))
    assert not transient_only(None, None, Failed(data=DataValidationError("bad rows")))
    assert transient_only(None, None, Failed(data=ConnectionError("network")))
    assert ingest.retries >= 1 and ingest.retry_condition_fn is transient_only


def test_an_internal_error_ends_with_one_line_naming_the_full_log(monkeypatch, capsys):
    import cnnlstm.cli.commands.config as config_command

    def crash(args):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(config_command, "run", crash)
    assert main(["config", "show"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("internal error: RuntimeError: something")
    log = Path(lines[0].rsplit("full log: ", 1)[1].rstrip(")"))
    assert "Traceback" in log.read_text() and "something inside broke" in log.read_text()


def test_a_tracking_failure_after_the_results_are_written_names_them(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from cnnlstm.cli.output import tracking_failure_keeps

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    out = tmp_path / "run"
    out.mkdir()
    (out / "table2.md").write_text("| done |")
    dead = MlflowClient(f"http://127.0.0.1:{_closed_port()}")
    failed = pytest.raises(UserInputError, match="MLflow tracking failed")
    with failed as caught, tracking_failure_keeps(out):
        dead.search_experiments()  # a real MLflow client against a dead server
    assert str(out) in str(caught.value) and (out / "table2.md").read_text() == "| done |"
    with pytest.raises(RuntimeError), tracking_failure_keeps(out):  # not MLflow's: as it is
        raise RuntimeError("a bug")


def test_an_internal_error_is_still_reported_when_the_disk_is_full(capsys):
    from cnnlstm.cli.output import print_internal_error

    print_internal_error(RuntimeError("the original error"), Path("/dev/full"))  # ENOSPC
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "RuntimeError: the original error" in lines[0]
    assert "no log written" in lines[0]


def test_unbounded_numbers_are_refused_at_validation():
    from pydantic import ValidationError

    from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

    for bad in ({"lr": 1e308}, {"lr": float("inf")}, {"weight_decay": 1e300}, {"lr": float("nan")}):
        with pytest.raises(ValidationError):
            CnnTrainConfig(**bad)
        with pytest.raises(ValidationError):
            LstmTrainConfig(**bad)


@pytest.fixture()
def full_disk(tmp_path):
    """A real 5 MB file system (tmpfs), filled but for 200 KB: a data home on a full disk."""
    mount = tmp_path / "full"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (ENOSPC is not faked here)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(mount)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        stat = os.statvfs(mount)
        (mount / "filler").write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - 200_000))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow  # a fresh command creating an MLflow store on a real full file system
def test_a_full_disk_is_one_error_line_and_leaves_no_half_made_store(full_disk, tmp_path):
    """Before: `internal error: OperationalError: database or disk is full`, and the MLflow
    database a new store was being created in stayed behind half-migrated (a later run, with the
    disk freed, was told to `mlflow db upgrade` it)."""
    home = full_disk / "home"
    done, _ = _cnnlstm(tmp_path, "backtest", *SIM, CNNLSTM_HOME=str(home))
    line = _one_error_line(done)
    assert done.returncode == 2 and "disk is full" in line and str(full_disk) in line, line
    assert not (home / "mlflow.db").exists()  # nothing half-made to trip the next run
    (full_disk / "filler").unlink()
    from cnnlstm.infra import tracking_store

    tracking_store.forget()
    tracking_store.prepare(f"sqlite:///{home / 'mlflow.db'}")  # the next run's store is whole
    assert tracking_store.verify(home / "mlflow.db").version == tracking_store.schema_head()
    tracking_store.forget()
