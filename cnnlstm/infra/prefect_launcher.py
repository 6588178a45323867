"""The temporary Prefect server's process: imports first, serves only when told to.

Run as `python -m cnnlstm.infra.prefect_launcher PORT` by `cnnlstm.infra.prefect_server`.
It reads Prefect's settings (a configured `PREFECT_API_URL` means there is nothing to serve:
exit status `CONFIGURED`), imports uvicorn and Prefect's API (the 3 s or more of a temporary
server's start), then waits for one line on standard input: `go` serves the API on
127.0.0.1:PORT exactly as Prefect's temporary server does (`uvicorn.run` of
`prefect.server.api.server:create_app`, log level error, lifespan on) until the input ends (the
command closed it, exited or was killed); anything else, or the end of the input before `go`,
exits with status 0 before any database is opened. So the command line can start
it while it still checks its own inputs, and a command whose inputs are wrong starts no server.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from cnnlstm.infra import prefect_db

#: exit status when a Prefect API URL is configured (nothing to serve)
CONFIGURED = 10


def main(argv: list[str]) -> int:
    """Serve Prefect's API on port `argv[0]` once standard input says `go`; the exit status."""
    port = int(argv[0])
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url:
        return CONFIGURED
    # a new Prefect home's database comes from the user's template (built now if missing,
    # beside this import), not from every migration anew: cnnlstm.infra.prefect_db
    url = settings.server.database.connection_url
    target = prefect_db.sqlite_target(url.get_secret_value() if url is not None else None)
    builder = prefect_db.start_template(target)
    import prefect.server.api.server  # noqa: F401 - the slow part, done before the go
    import uvicorn

    if sys.stdin.readline().strip() != "go":
        prefect_db.stop_builder(builder)
        return 0
    prefect_db.seed(target, builder)
    # the command keeps standard input open while it runs: its end (the command exited, or
    # was killed and never ran its exit handlers) stops the server, so none is left behind
    threading.Thread(target=_stop_at_end_of_input, name="parent-watch", daemon=True).start()
    uvicorn.run(
        "prefect.server.api.server:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="error",
        lifespan="on",
    )
    return 0


def _stop_at_end_of_input() -> None:
    sys.stdin.read()
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
