"""`load_inputs` (import + policies + dashboards) in two project trees, run alternately: median CPU side by side.

The plan's input loading alone, without the program and the SDK: a change to policy loading or validation shows
here with a spread of a few milliseconds, where bench/plan_ab.py's whole plans at 50 apps spread by tenths of a
second on a shared machine. Each run is a fresh interpreter (imports included), as in a real plan.

    .venv/bin/python bench/inputs_ab.py /tmp/before /tmp/after --runs 20
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
from pathlib import Path

_LOAD = "from pathlib import Path\nfrom model.inputs import load_inputs\nload_inputs(Path('.'))"


def load_once(tree: Path) -> float:
    """CPU seconds (user + system) of one fresh `load_inputs` of `tree`'s policies and dashboards."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", _LOAD], cwd=tree, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs=2, type=Path)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    times: dict[Path, list[float]] = {tree: [] for tree in args.trees}
    for run in range(args.runs):
        # Alternate which tree goes first, so a slow spell of the machine falls on both.
        for tree in args.trees if run % 2 == 0 else reversed(args.trees):
            times[tree].append(load_once(tree))
    floor = statistics.median(times[args.trees[0]])
    for tree, measured in times.items():
        median = statistics.median(measured)
        print(f"{tree}: load_inputs cpu median {median:.3f} s (min {min(measured):.3f})  "
              f"ratio to the first {median / floor:.2f}  runs {len(measured)}")


if __name__ == "__main__":
    main()
