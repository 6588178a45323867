"""Start Prefect's temporary server early, while the command line imports its heavy libraries.

Input contract: the command line's arguments (the subcommand is the first one that is not an
option). Without a configured server (`PREFECT_API_URL` empty in the environment and in the
active Prefect profile) a flow run starts a temporary local server on its first API call and
waits for it (3-7 s on a quiet machine, 15 s and more on a loaded one). `prestart(argv)` starts
that same server (Prefect's `SubprocessASGIServer` singleton, which the flow then finds running)
in a background thread at once, so the wait overlaps the imports of torch, Lightning, MLflow and
the flows; `wait_for_server()` blocks until it answers and must run before the first flow call
(Prefect's own start returns early while another thread is still starting it), which is why only
the commands in `FLOW_COMMANDS`, which call it, get a server started early.

A configured server (`PREFECT_API_URL`) is used as it is: nothing is started. Commands that run
no flow start nothing either.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

#: Subcommands that run a Prefect flow (and so need an API).
FLOW_COMMANDS = frozenset({"backtest", "walk-forward"})


class Prestart:
    """A temporary Prefect server being started in a background thread."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.api_url: str | None = None
        self._thread = threading.Thread(target=self._start, name="prefect-prestart", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            from prefect.server.api.server import SubprocessASGIServer

            server = SubprocessASGIServer()
            server.start()
            self.api_url = server.api_url
        except BaseException as err:  # noqa: BLE001 - the flow's own start reports it again
            self.error = err

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server answers (or failed to start); True when it is up."""
        self._thread.join(timeout)
        return self.api_url is not None and self.error is None


def _subcommand(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def server_configured() -> bool:
    """Whether a Prefect API URL is configured (environment or the active profile)."""
    if os.environ.get("PREFECT_API_URL", "").strip():
        return True
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


_current: Prestart | None = None


def prestart(argv: Sequence[str]) -> Prestart | None:
    """Start the temporary server now when the command will need one and none is configured.

    The command must call `wait_for_server()` before its first flow call.
    """
    global _current
    if _subcommand(argv) not in FLOW_COMMANDS or server_configured():
        return None
    if _current is None:
        _current = Prestart()
    return _current


def wait_for_server(timeout: float | None = None) -> None:
    """Block until a server `prestart` began answers (no-op when none was started)."""
    if _current is not None:
        _current.wait(timeout)  # a failure is the flow's to report: it starts one itself


__all__ = ["FLOW_COMMANDS", "Prestart", "prestart", "server_configured", "wait_for_server"]
