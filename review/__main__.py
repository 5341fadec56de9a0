"""Command line: `python -m review plan|diff|gate|route ...` (see --help of each)."""

# ruff: noqa: E402 - the imports follow the start of `review diff`'s planner on purpose (below)
from __future__ import annotations

import sys

# `review diff` waits ~0.4 s for its planner to import the SDKs before any tree is planned, so the planner is started
# before anything else here is even imported (~40 ms of argparse and the model's errors); `diff` below adopts it.
# Only when run as the command: plan_pair imports this module in the planner's children.
_EARLY_PLANNER = None
if __name__ == "__main__" and sys.argv[1:2] == ["diff"]:
    from review.planning import start_planning as _start_planning

    _EARLY_PLANNER = _start_planning()

import argparse
import contextlib
import gc
import os
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from model.errors import PolicyError, Problem

if TYPE_CHECKING:
    from review.stack_config import StackConfig

# Each command imports what it needs when it runs: `diff` only orchestrates two `plan` processes and must
# not pay for the Pulumi SDK and the policy loader itself (bench/plan_floor.py measures the difference).

EXIT_OK, EXIT_UNEXPECTED, EXIT_INVALID = 0, 1, 2
# The collector's thresholds for `plan` and `diff`. A plan allocates about a million short-lived objects (the
# SDK's futures, tasks and Outputs) next to a large long-lived heap (the SDKs' modules, the estate): at the
# default (700, 10, 10) the collector rescans that heap so often it costs about a sixth of a 50-app plan, for
# no memory back (peak RSS is unchanged at 10,000). bench/plan_floor.py runs its floor with the same setting.
GC_THRESHOLDS = (10_000, 10, 10)
# The project tree this code belongs to (review/ sits at its top).
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m review", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="list every resource the program declares, offline")
    plan.add_argument("--stack", default="prod", help="stack whose Pulumi.<stack>.yaml to use (default: prod)")
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.add_argument("--project-dir", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)
    diff = commands.add_parser("diff", help="what the working tree changes against a git revision, offline")
    diff.add_argument("--base", required=True, help="git revision to compare with, e.g. origin/main")
    diff.add_argument("--stack", default="prod")
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    diff.add_argument("--project-dir", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)
    return parser


def diff(project_dir: Path, base: str, stack: str, output_format: str) -> int:
    """Run the offline diff; print it to stdout; return the exit code."""
    global _EARLY_PLANNER
    from review.planning import start_planning

    # First of all: the planner's SDK import (~0.4 s) is the diff's critical path; everything below overlaps it.
    planning, _EARLY_PLANNER = _EARLY_PLANNER or start_planning(), None
    from review.diff import WORKING_TREE, DiffError, diff_revisions
    from review.diff_report import render_json as render_json_diff
    from review.diff_report import render_markdown
    from review.diff_report import render_text as render_text_diff

    # The working tree is checked by its own plan, exactly as `plan` checks it (exit 2, every problem located), and
    # that stops the diff at once. Where no plan runs (the base cannot be exported), it is checked here, so the
    # author still sees its problems first; only when this code is the tree's own: the PR workflow runs the base
    # branch's diff over the PR's tree, and the base's model would refuse every policy key the PR adds.
    check_head = None
    if project_dir.resolve() == PROJECT_ROOT:

        def check_head() -> None:
            _validated_inputs(project_dir, stack)

    try:
        result = diff_revisions(project_dir, base, stack, check_head=check_head, planning=planning)
    except PolicyError as err:
        print(err, file=sys.stderr)
        print("Nothing was planned (the working tree is invalid).", file=sys.stderr)
        return EXIT_INVALID
    except DiffError as err:
        print(err, file=sys.stderr)
        # The working tree's own problems are the author's to fix (2); a base that cannot be planned is not.
        return EXIT_INVALID if err.code == EXIT_INVALID and err.revision == WORKING_TREE else EXIT_UNEXPECTED
    render = {"text": render_text_diff, "markdown": render_markdown, "json": render_json_diff}[output_format]
    sys.stdout.write(render(result))
    return EXIT_OK


def _validated_inputs(project_dir: Path, stack: str) -> StackConfig:
    """Stack config and policies, with every problem in both reported at once."""
    from model.inputs import load_inputs
    from review.stack_config import load_stack_config

    problems: list[Problem] = []
    config = None
    try:
        config = load_stack_config(project_dir, stack)
    except PolicyError as err:
        problems += err.problems
    try:
        load_inputs(project_dir, stack=stack)
    except PolicyError as err:
        problems += err.problems
    if problems or config is None:
        raise PolicyError(problems)
    return config


def plan(project_dir: Path, stack: str, output_format: str) -> int:
    """Run the offline plan; print it to stdout; return the exit code."""
    from review.engine import run_project
    from review.plan import build_plan, render_json, render_text

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
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["gate"]:
        from review.gate import main_gate

        # The gate parses its own arguments (review/gate.py): it reads `pulumi preview --json`, not the program.
        return main_gate(argv[1:])
    if argv[:1] == ["route"]:
        # Who gets paged for what (review/route.py): its own arguments, like the gate.
        from review.route import main_route

        code = main_route(argv[1:])
        _close_event_loop()
        return code
    args = _parser().parse_args(argv)
    gc.set_threshold(*GC_THRESHOLDS)
    code = EXIT_UNEXPECTED
    if args.command == "plan":
        code = plan(args.project_dir.resolve(), args.stack, args.format)
    elif args.command == "diff":
        code = diff(args.project_dir.resolve(), args.base, args.stack, args.format)
    _close_event_loop()
    return code


def _close_event_loop() -> None:
    # The SDK leaves its event loop open; closing it here stops a noisy "Exception ignored" at exit. A command
    # that never imported asyncio (`diff` orchestrates, the SDK runs in its planning processes) has no loop, and
    # importing asyncio just to find that out costs ~40 ms.
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return
    with contextlib.suppress(RuntimeError):
        loop = asyncio.get_event_loop()
        if not loop.is_closed():
            loop.close()


def _leave(code: int) -> None:
    """Exit without tearing the interpreter down: output flushed, nothing left to clean up.

    A plan's heap (the SDKs, every resource, future and Output) is freed object by object at a normal exit:
    about a tenth of a 50-app plan, for a process about to end anyway. Nothing here holds a file, lock or
    child process open at this point (plans, diffs and the gate write their output to stdout and stderr).
    Under a profiler or tracer (cProfile, coverage) the normal exit is kept: they write their results at exit.
    """
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _leave(main())
