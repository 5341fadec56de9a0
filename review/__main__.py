"""Command line: `python -m review plan [--stack prod] [--format text|json]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import traceback
from pathlib import Path

from model.errors import PolicyError, Problem
from model.inputs import load_inputs
from review.engine import run_project
from review.plan import build_plan, render_json, render_text
from review.stack_config import StackConfig, load_stack_config

EXIT_OK, EXIT_UNEXPECTED, EXIT_INVALID = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m review", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="list every resource the program declares, offline")
    plan.add_argument("--stack", default="prod", help="stack whose Pulumi.<stack>.yaml to use (default: prod)")
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.add_argument("--project-dir", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)
    return parser


def _validated_inputs(project_dir: Path, stack: str) -> StackConfig:
    """Stack config and policies, with every problem in both reported at once."""
    problems: list[Problem] = []
    config = None
    try:
        config = load_stack_config(project_dir, stack)
    except PolicyError as err:
        problems += err.problems
    try:
        load_inputs(project_dir)
    except PolicyError as err:
        problems += err.problems
    if problems or config is None:
        raise PolicyError(problems)
    return config


def plan(project_dir: Path, stack: str, output_format: str) -> int:
    """Run the offline plan; print it to stdout; return the exit code."""
    try:
        config = _validated_inputs(project_dir, stack)
    except PolicyError as err:
        print(err, file=sys.stderr)
        print("Nothing was planned.", file=sys.stderr)
        return EXIT_INVALID
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    try:
        recording = run_project(
            project_dir, config=config.values, secret_keys=config.secret_keys, project=config.project, stack=stack
        )
    except Exception:
        print("unexpected error while running the program under the mock engine:", file=sys.stderr)
        traceback.print_exc()
        return EXIT_UNEXPECTED
    result = build_plan(recording, project=config.project, stack=stack)
    sys.stdout.write(render_json(result) if output_format == "json" else render_text(result))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = _parser().parse_args(argv)
    code = EXIT_UNEXPECTED
    if args.command == "plan":
        code = plan(args.project_dir.resolve(), args.stack, args.format)
    _close_event_loop()
    return code


def _close_event_loop() -> None:
    # The SDK leaves its event loop open; closing it here stops a noisy "Exception ignored" at exit.
    with contextlib.suppress(RuntimeError):
        loop = asyncio.get_event_loop()
        if not loop.is_closed():
            loop.close()


if __name__ == "__main__":
    sys.exit(main())
