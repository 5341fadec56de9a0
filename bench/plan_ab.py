"""`review plan` in two project trees, run alternately: the median CPU and wall time of each, side by side.

For a change too small for bench/plan_floor.py's few runs to show (its floors move by more than the change): give
two byte-compiled copies of the project (e.g. `git archive` of two commits, `python -m compileall` on each, or two
`plan_floor.project_with_apps` copies), and many runs. The CPU time is the child's own (user + system).

    .venv/bin/python bench/plan_ab.py /tmp/before /tmp/after --runs 20
    .venv/bin/python bench/plan_ab.py /tmp/before /tmp/after --runs 7 --diff HEAD~1   # `review diff --base HEAD~1`

With `--diff REF` each tree runs `review diff --base REF` instead (the trees must be git repositories holding REF,
e.g. `plan_floor.project_with_apps` copies after `plan_floor.commit_one_policy_change`); CPU then includes the
diff's planning processes.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def plan_once(tree: Path, diff_base: str | None = None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one `review plan --format json` in `tree` (`review diff --base diff_base`)."""
    command = ["plan", "--format", "json"] if diff_base is None else ["diff", "--base", diff_base]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "review", *command],
        cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs=2, type=Path)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--diff", metavar="REF", help="time `review diff --base REF` instead of the plan")
    args = parser.parse_args()
    times: dict[Path, list[tuple[float, float]]] = {tree: [] for tree in args.trees}
    for run in range(args.runs):
        # Alternate which tree goes first, so a slow spell of the machine falls on both.
        for tree in args.trees if run % 2 == 0 else reversed(args.trees):
            times[tree].append(plan_once(tree, args.diff))
    for tree, measured in times.items():
        cpu = [c for c, _ in measured]
        wall = [w for _, w in measured]
        print(
            f"{tree}: cpu median {statistics.median(cpu):.3f} s (min {min(cpu):.3f})  "
            f"wall median {statistics.median(wall):.3f} s  runs {len(measured)}"
        )


if __name__ == "__main__":
    main()
