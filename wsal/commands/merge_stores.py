"""`wsal merge-stores`: join the shard stores of a sharded `wsal extract` into one store.

Uses :func:`wsal.features.store.merge_stores`: the parts must have identical settings (fps,
snippet grid, streams, backbone) and disjoint videos; failure lists are merged (minus videos that
some part holds). The output is written to a temp file and renamed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wsal.errors import WsalError
from wsal.outputs import check_writable


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "merge-stores",
        help="merge shard feature stores into one",
        description="Merge feature stores with identical settings and disjoint videos (e.g. the parts of "
        "`wsal extract --shard I/N`) into one store.",
    )
    parser.add_argument("parts", nargs="+", metavar="PART", help="shard stores (HDF5)")
    parser.add_argument("--out", required=True, help="merged store to write")
    return parser


def run(args: argparse.Namespace) -> int:
    from wsal.features.store import FeatureStore, merge_stores

    out = Path(args.out)
    parts = [Path(p) for p in args.parts]
    if not any(p.resolve() == out.resolve() for p in parts):
        check_writable(out, "feature store")
    if len(set(p.resolve() for p in parts)) != len(parts):
        raise WsalError("the same part is given twice")
    if any(p.resolve() == out.resolve() for p in parts):
        raise WsalError(f"--out {out} is also one of the parts; write the merge to a new file")
    count = merge_stores(parts, out)
    with FeatureStore(out) as merged:
        failures = len(merged.failures())
    print(f"{out}: {count} videos from {len(parts)} stores, {failures} failed videos listed")
    return 0
