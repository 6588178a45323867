"""Refuse to start the stack with the example passwords (run by compose's `secrets-check`).

Every secret compose passes in (the `*PASSWORD*`, `*AUTH_STRING*`, `*SECRET*` variables) must
be set, differ from its value in docker/.env.example, contain no `change-me`, and be at least
16 characters (a Prefect auth string: its password part). Exit 0 when all pass, else 1 with one
line per failing variable (never the value).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

SECRET = re.compile(r"PASSWORD|AUTH_STRING|SECRET|TOKEN")
MIN_LENGTH = 16


def example_values(path: Path) -> dict[str, str]:
    """The example env file's secrets."""
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and SECRET.search(key):
            out[key.strip()] = value.strip()
    return out


def problems(env: dict[str, str], examples: dict[str, str]) -> list[str]:
    """What is wrong with the secrets in `env` (names only)."""
    out = []
    for key, example in sorted(examples.items()):
        value = env.get(key, "")
        secret = value.split(":", 1)[1] if "AUTH_STRING" in key and ":" in value else value
        if not value:
            out.append(f"{key} is not set")
        elif value == example or "change-me" in value.lower():
            out.append(f"{key} still has the example value from docker/.env.example")
        elif len(secret) < MIN_LENGTH:
            out.append(f"{key} is shorter than {MIN_LENGTH} characters")
    return out


def main() -> int:
    """Check the process environment against the example file."""
    example = Path(sys.argv[1] if len(sys.argv) > 1 else "/checks/.env.example")
    found = problems(dict(os.environ), example_values(example))
    for line in found:
        print(f"refusing to start: {line}", file=sys.stderr)
    if found:
        print('set real secrets in docker/.env (python -c "import secrets; '
              'print(secrets.token_urlsafe(24))")', file=sys.stderr)  # fmt: skip
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
