"""Credentials never printed: URLs with a password are shown with `***` in its place.

`redact_url("postgresql+psycopg://book:s3cret@db/book")` -> `postgresql+psycopg://book:***@db/book`;
a URL without a password (or not a URL) is returned as it is. `redact_text` does the same for
every URL inside a message.
"""

from __future__ import annotations

import re

#: scheme://user:password@host -> the password part (up to the last `@` before the host).
_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)(?P<pw>[^\s@/]+)@")


def redact_url(url: str | None) -> str | None:
    """`url` with its password replaced by `***` (None stays None)."""
    return None if url is None else redact_text(url)


def redact_text(text: str) -> str:
    """Every `scheme://user:password@` in `text` with the password replaced by `***`."""
    return _CREDENTIALS.sub(lambda m: f"{m.group('head')}***@", text)
