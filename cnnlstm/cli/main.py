"""The `cnnlstm` console command.

Each subcommand lives in its own module under `cnnlstm.cli.commands` and exposes two functions:
`register(subparsers)`, which adds its parser, and `run(args) -> int`, which does the work.
Modules are discovered, so adding a subcommand never touches this file. A module may also
expose `preflight(args)`: cheap checks (paths, tracking server, output folder) that run before
any Prefect server starts, so a wrong path fails in a second with one line.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import pkgutil
import sys
import tempfile

from cnnlstm import __version__
from cnnlstm.cli import commands, quiet
from cnnlstm.cli.output import (
    disk_full,
    print_error,
    print_internal_error,
    tracking_auth_failure,
)
from cnnlstm.core.errors import UserInputError
from cnnlstm.core.paths import data_home
from cnnlstm.infra import prefect_server, runtime
from cnnlstm.infra.prefect_server import prestart


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every discovered subcommand."""
    parser = argparse.ArgumentParser(
        prog="cnnlstm",
        description="CNN stock selection + LSTM timing (Liu, Zhang & Ma 2017) research platform.",
    )
    parser.add_argument("--version", action="version", version=f"cnnlstm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"cnnlstm.cli.commands.{info.name}")
        sub_parser = module.register(sub)
        sub_parser.set_defaults(_run=module.run, _preflight=getattr(module, "preflight", None))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code.

    A user or data error (`UserInputError`) prints one `error:` block and exits 2; any other
    error prints one line naming the log file that holds its traceback and exits 1.
    """
    # A flow run without PREFECT_API_URL starts a temporary local server; on a loaded 2-core
    # machine it can take longer than Prefect's default 20 s to answer, so allow more.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    quiet.telemetry_off()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    saved_env = {k: os.environ.get(k) for k in _ENV_SET_PER_RUN}
    quiet.quiet_warnings()
    runtime.set_up_process()  # the allocator kept for trainings, Lightning quiet
    home = data_home()
    run_tmp = quiet.scratch_under(home)
    log_path = quiet.log_file(home)
    undo_console = quiet.nothing_to_undo
    # the temporary Prefect server's process starts now and imports Prefect's API while the
    # command checks its inputs; it serves only once they are fine (prefect_server.release)
    quiet.quiet_server(getattr(args, "verbose", 0))
    prestart(sys.argv[1:] if argv is None else argv)
    try:
        if getattr(args, "_preflight", None) is not None:
            try:
                args._preflight(args)  # paths, tracking, --out: checked before any server serves
            except BaseException:
                prefect_server.cancel()  # it exits before opening any database
                raise
        prefect_server.release()
        undo_console = quiet.configure_console(getattr(args, "verbose", 0), log_path)
        return int(args._run(args) or 0)
    except UserInputError as err:
        print_error(err)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the one place that turns a crash into a log
        refused = tracking_auth_failure(err)
        if refused is not None:  # missing or wrong MLflow credentials: one `error:` line
            print_error(refused)
            return 2
        full = disk_full(err, home)
        if full is not None:  # no room to write: one `error:` line naming where
            print_error(full)
            return 2
        print_internal_error(err, log_path)
        return 1
    finally:
        undo_console()
        quiet.remove_scratch(run_tmp)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        tempfile.tempdir = None


#: Variables the command line sets for the duration of one command (restored afterwards).
_ENV_SET_PER_RUN = ("TMPDIR", "MLFLOW_LOGGING_LEVEL", "PREFECT_SERVER_LOGGING_LEVEL")


def console() -> None:
    """The `cnnlstm` console script: `main()`, then exit without a final garbage collection.

    The process holds Prefect's, MLflow's and pydantic's object graphs; the interpreter's
    collections over them at exit took 1-1.5 s on these machines (0.1 s frozen). `gc.freeze()`
    moves every object out of the collector's reach; the exit handlers (`atexit`: the temporary
    server's stop, Prefect's log and event workers) and the modules' teardown still run. Only
    the console script does this: an in-process caller of `main()` keeps a collected heap.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    console()
