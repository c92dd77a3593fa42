"""The ``wsal`` command line: builds one argparse subcommand per module of wsal.commands.

``main(argv) -> int``. Expected user errors (:class:`wsal.errors.WsalError`) print one line,
``wsal <command>: error: <message>``, and return 2; argparse usage errors also return 2.
Heavy imports live inside each command's ``run`` so that ``wsal --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from wsal import __version__
from wsal.errors import WsalError

# Module names under wsal.commands, in the order `wsal --help` lists them.
COMMANDS: tuple[str, ...] = (
    "annotations",
    "import_features",
    "extract",
    "merge_stores",
    "sampler_report",
    "sampler_fit",
    "train",
    "localize",
    "evaluate",
    "run",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wsal",
        description="Weakly-supervised temporal action localization: features, training, localization, mAP@tIoU.",
    )
    parser.add_argument("--version", action="version", version=f"wsal {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"wsal.commands.{name}")
        sub = module.register(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return int(args._run(args) or 0)
    except WsalError as err:
        print(f"wsal {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a file that cannot be read or written (full disk, read-only folder, ...)
        from wsal.outputs import os_error_message

        print(f"wsal {args.command}: error: {os_error_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"wsal {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
