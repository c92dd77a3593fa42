"""`wsal sampler-report`: placeholder until its helper lands it."""

from __future__ import annotations

import argparse

from wsal.errors import WsalError


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser("sampler-report", help="(in progress)")


def run(args: argparse.Namespace) -> int:
    raise WsalError("not implemented yet")
