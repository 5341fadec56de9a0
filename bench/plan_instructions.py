"""`review plan` against its floor in instructions executed: the same ratio as bench/plan_floor.py, without the noise.

Wall and CPU times on a shared machine move by a third between minutes, more than a change to the plan's own
work; the instructions a process executes do not (valgrind's callgrind counts them, the same to a few parts in a
thousand from run to run with a fixed hash seed). This runs, under callgrind, one `review plan` and one floor
(bench/plan_floor.py FLOOR: the same SDK modules, the plan's resources on bare `pulumi.CustomResource`) per
estate size, the two side by side on the two cores, and prints their instruction counts and ratio.

Instructions are not the target: a run's time also depends on memory traffic (the floor's larger heap of futures
and Outputs costs it more time per instruction at 50 apps, so its wall ratio sits well below this one). Use it to
tell whether a change to the plan's own work helps, and by how much, where timings cannot.

Needs valgrind (`apt-get install valgrind`); each run takes about 50 times as long as the command itself:
about 1 minute at 1 app, 4 at 50.

Usage: .venv/bin/python bench/plan_instructions.py [--apps 1 50]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import plan_floor  # the bench's own helpers, beside this file

VALGRIND = shutil.which("valgrind")


def instructions(command: list[str], cwd: Path, out: Path) -> subprocess.Popen[str]:
    """Start `command` under callgrind; its instruction count is read from its output when it ends."""
    return subprocess.Popen(
        [VALGRIND, "--tool=callgrind", f"--callgrind-out-file={out}", *command],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def collected(process: subprocess.Popen[str]) -> int:
    _, err = process.communicate()
    found = re.search(r"Collected : (\d+)", err)
    if process.returncode != 0 or not found:
        raise SystemExit(f"callgrind run failed (exit {process.returncode}):\n{err[-2000:]}")
    return int(found.group(1))


def measure(apps: int) -> tuple[int, int, int]:
    """(registrations, plan instructions, floor instructions) for an estate of `apps` apps."""
    with tempfile.TemporaryDirectory(prefix=f"bench-instructions-{apps}-") as tmp:
        project = plan_floor.project_with_apps(apps, Path(tmp) / "project")
        plan_file, modules_file = Path(tmp) / "plan.json", Path(tmp) / "modules.json"
        total = plan_floor.plan_json(project, plan_file)[2]
        modules_file.write_text(plan_floor.run([sys.executable, "-c", plan_floor.LIST_MODULES], project)[2],
                                encoding="utf-8")
        plan = instructions([sys.executable, "-m", "review", "plan"], project, Path(tmp) / "plan.callgrind")
        floor = instructions([sys.executable, "-c", plan_floor.FLOOR, str(plan_file), str(modules_file)], project,
                             Path(tmp) / "floor.callgrind")
        return total, collected(plan), collected(floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, nargs="+", default=[1, 50])
    args = parser.parse_args()
    if VALGRIND is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    for apps in args.apps:
        total, plan, floor = measure(apps)
        print(f"{apps} app(s), {total} registrations: review plan {plan / 1e6:,.0f}M instructions, "
              f"floor {floor / 1e6:,.0f}M, plan/floor {plan / floor:.3f}")


if __name__ == "__main__":
    main()
