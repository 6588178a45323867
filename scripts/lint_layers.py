"""Check the import floors (import-linter contracts in pyproject.toml) over the `cnnlstm` namespace.

The design card's folders (flows/, tasks/, models/, schemas/) live at the repository root and are
installed as `cnnlstm.flows`, ... by a setuptools package-dir mapping. import-linter (grimp) finds
a package's modules by walking its one folder, so this script lays out the namespace as a folder
of symbolic links in a temporary directory, puts it first on the import path and runs the
contracts from there. Exit code: import-linter's (0 when every contract is kept).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPED = ("flows", "tasks", "models", "schemas")


def build_view(where: Path) -> Path:
    """Lay out `cnnlstm/` with links to the real folders; return the directory to import from."""
    package = where / "cnnlstm"
    package.mkdir()
    for entry in (ROOT / "cnnlstm").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name in MAPPED:
        (package / name).symlink_to(ROOT / name)
    return where


def main() -> int:
    """Run import-linter on the namespace view with the contracts of pyproject.toml."""
    from importlinter.cli import lint_imports

    with tempfile.TemporaryDirectory(prefix="cnnlstm-layers-") as tmp:
        view = build_view(Path(tmp))
        # import-linter puts the working directory first on the import path: work in the view,
        # or the repository's own `cnnlstm/` (without the mapped folders) would be found.
        here = Path.cwd()
        os.chdir(view)
        try:
            return lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
        finally:
            os.chdir(here)


if __name__ == "__main__":
    sys.exit(main())
