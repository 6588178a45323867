"""What the command line sets up: telemetry off, scratch under the data home, numba's cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlstm.cli import quiet
from cnnlstm.cli.main import main

PRINT_ENV = (
    "import os, sys; from cnnlstm.cli import quiet; from pathlib import Path; "
    "quiet.telemetry_off(); quiet.scratch_under(Path(sys.argv[1])); "
    "print(*[f'{k}={os.environ.get(k)}' for k in ('MLFLOW_DISABLE_TELEMETRY', 'DO_NOT_TRACK', "
    "'PREFECT_SERVER_ANALYTICS_ENABLED', 'NUMBA_CACHE_DIR', 'TMPDIR')], sep=chr(10))"
)


def _env_after_setup(tmp_path: Path, **env: str) -> dict[str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "NUMBA_CACHE_DIR", "XDG_CACHE_HOME")
        and not k.startswith("PREFECT_")
    }
    environ.update(env)
    out = subprocess.run(
        [sys.executable, "-c", PRINT_ENV, str(tmp_path)],
        capture_output=True, text=True, env=environ, check=True,
    ).stdout  # fmt: skip
    return dict(line.split("=", 1) for line in out.splitlines())


def test_telemetry_is_off_by_default_with_the_values_each_library_reads(tmp_path):
    env = _env_after_setup(tmp_path)
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert env["DO_NOT_TRACK"] == "true"  # MLflow 3.17 ignores DO_NOT_TRACK=1
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert _env_after_setup(tmp_path, DO_NOT_TRACK="1")["DO_NOT_TRACK"] == "true"


def test_a_user_who_turns_telemetry_on_is_obeyed(tmp_path):
    env = _env_after_setup(
        tmp_path,
        MLFLOW_DISABLE_TELEMETRY="false",
        DO_NOT_TRACK="false",
        PREFECT_SERVER_ANALYTICS_ENABLED="true",
    )
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "false" and env["DO_NOT_TRACK"] == "false"
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true"


def test_scratch_lives_under_the_data_home_and_leftovers_are_cleaned(tmp_path):
    stale = tmp_path / "tmp" / "run-999999999"  # a killed run's scratch (no such process)
    (stale / "lightning").mkdir(parents=True)
    env = _env_after_setup(tmp_path, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert Path(env["TMPDIR"]).is_relative_to(tmp_path / "tmp")
    assert not stale.exists()


def test_numbas_cache_is_the_users_shared_by_every_data_home_never_the_source_tree(tmp_path):
    xdg = tmp_path / "xdg"
    one = _env_after_setup(tmp_path / "home-a", XDG_CACHE_HOME=str(xdg))
    two = _env_after_setup(tmp_path / "home-b", XDG_CACHE_HOME=str(xdg))
    assert one["NUMBA_CACHE_DIR"] == two["NUMBA_CACHE_DIR"] == str(xdg / "cnnlstm" / "numba")
    source = Path(quiet.__file__).resolve().parents[2]
    assert not Path(one["NUMBA_CACHE_DIR"]).is_relative_to(source)
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")  # the user's cache cannot be created: the data home holds it
    env = _env_after_setup(tmp_path / "home-c", XDG_CACHE_HOME=str(blocked))
    assert Path(env["NUMBA_CACHE_DIR"]) == tmp_path / "home-c" / "cache" / "numba"
    assert _env_after_setup(tmp_path, NUMBA_CACHE_DIR="/x/y")["NUMBA_CACHE_DIR"] == "/x/y"


def test_a_command_leaves_the_process_as_it_found_it(capsys):
    before = os.environ.get("TMPDIR")
    assert main(["config", "show"]) == 0
    assert os.environ.get("TMPDIR") == before
    assert not list((Path(os.environ["CNNLSTM_HOME"]) / "tmp").glob(f"run-{os.getpid()}"))
    capsys.readouterr()


def test_known_warnings_are_filtered_by_message_and_module_never_blanket():
    for message, module in quiet.KNOWN_WARNINGS:
        assert message.strip(".*") and module not in ("", ".*"), (message, module)


@pytest.mark.slow  # two fresh processes importing MLflow: ~10-30 s
def test_mlflow_writes_no_installation_id_with_the_command_lines_settings(tmp_path):
    script = (
        "import sys; from cnnlstm.cli import quiet\n"
        "if sys.argv[1] == 'off': quiet.telemetry_off()\n"
        "import mlflow\n"
        "mlflow.set_tracking_uri(f'sqlite:///{sys.argv[2]}/m.db')\n"
        "with mlflow.start_run(): mlflow.log_metric('x', 1.0)\n"
    )
    for mode in ("off", "library-default"):
        home = tmp_path / mode
        home.mkdir()
        environ = {
            k: v
            for k, v in os.environ.items()
            if k not in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "XDG_CONFIG_HOME", "CI")
            and not k.startswith("PYTEST")  # MLflow turns its telemetry off under pytest
        }
        environ["HOME"] = str(home)
        subprocess.run(
            [sys.executable, "-c", script, "off" if mode == "off" else "on", str(home)],
            env=environ, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    assert not (tmp_path / "off" / ".config" / "mlflow").exists()
    # the check can fail: MLflow's own default writes its telemetry id there
    assert (tmp_path / "library-default" / ".config" / "mlflow").exists()


def test_the_console_script_exits_with_the_commands_status(tmp_path):
    """`console()` (the installed `cnnlstm`) freezes the heap, then exits with main()'s code."""
    env = {**os.environ, "CNNLSTM_HOME": str(tmp_path)}
    script = (
        "import sys; from cnnlstm.cli.main import console; "
        "sys.argv = ['cnnlstm', *sys.argv[1:]]; console()"
    )
    ok = subprocess.run(
        [sys.executable, "-c", script, "config", "show"], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "protocol" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-c", script, "backtest", "--source", "csv:/no/such/dir"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "error:" in bad.stderr
