"""`cnnlstm store verify`: check every file of a bars store against its checksum.

Examples:
    cnnlstm store verify --store data/store/csv-1a2b3c
    cnnlstm store verify --source csv:data/bars            (the store `ingest` fills for it)
    cnnlstm store verify --store DIR --drop-damaged         (then re-ingest to rebuild them)

Prints one line per damaged, missing or unrecorded file and a summary; exits 2 when a file is
damaged or missing (0 after `--drop-damaged` removed them: a re-ingest rebuilds them).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `store` subcommand's parser."""
    parser = subparsers.add_parser(
        "store",
        help="check a bars store's files against their checksums",
        description="Every stored Parquet file against the checksum in the store's manifest, "
        "and decoded in full.",
    )
    parser.add_argument("action", choices=["verify"], help="what to do with the store")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--store", type=Path, help="the store folder")
    where.add_argument("--source", help="the source whose default store to check (sim, csv:DIR)")
    parser.add_argument(
        "--drop-damaged",
        action="store_true",
        help="remove damaged files (a re-ingest of the source then rebuilds them)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Verify the store and print what was found; 2 when something is damaged or missing."""
    from cnnlstm.core.errors import UserInputError
    from cnnlstm.tasks.data.store import check_store, drop_damaged

    store = args.store
    if store is None:
        from cnnlstm.cli.commands.ingest import source_store

        store = source_store(argparse.Namespace(source=args.source, benchmark=None), {})
    if not Path(store).is_dir():
        raise UserInputError(f"store {store} does not exist")
    found = check_store(store)
    for rel, why in found.damaged.items():
        print(f"damaged: {Path(store) / rel}: {why}")
    for rel in found.missing:
        print(f"missing: {Path(store) / rel} (in the manifest, not on disk)")
    for rel in found.unrecorded:
        print(
            f"unrecorded: {Path(store) / rel} (written before checksums; its next write records it)"
        )
    print(
        f"store {store}: {len(found.ok)} file(s) verified, {len(found.damaged)} damaged, "
        f"{len(found.missing)} missing, {len(found.unrecorded)} without a checksum"
    )
    if found.clean:
        return 0
    if args.drop_damaged:
        for rel in drop_damaged(store):
            print(f"dropped: {Path(store) / rel}")
        print("re-run the ingest (or the backtest) of this store's source to rebuild them")
        return 0
    return 2
