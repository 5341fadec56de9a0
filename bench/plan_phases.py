"""Where one `review plan` spends its instructions, split at the Python functions you name (valgrind's callgrind).

callgrind counts instructions exactly but sees only C functions: every Python function is the interpreter's loop.
This marks the ones you name. Each is wrapped so that entering and leaving it calls `os.getppid()`, and callgrind,
told to start a new part of its count whenever `getppid` is entered (`--dump-before=getppid`), splits the run
there. A part is then named by the marks on either side of it, and parts with the same pair of names are summed
over every call: `before X -> X` is what X costs inclusively, less whatever marked call runs inside it, which gets
its own parts. The counts repeat to a few parts in a thousand (a fixed hash seed), so a change of a few million
instructions in one phase shows, where a timing cannot (docs/performance.md, round 7).

    .venv/bin/python bench/plan_phases.py review.__main__._validated_inputs components.estate.declare_estate \\
        review.plan.build_plan review.plan.render_text
    .venv/bin/python bench/plan_phases.py --sdk-first model.load:_Loader._app model.inputs.load_dashboards

A name is `package.module.function` or `package.module:Class.method`, looked up when the plan starts: a function
another module imported by name before then is not wrapped where that module calls it (name the caller's copy).
`--sdk-first` imports the SDK modules the plan imports before anything is marked, as the floor does
(bench/plan_floor.py LIST_MODULES); without it, a phase that first touches a lazily loaded SDK module (the
components, for Grafana's) pays for importing it. Needs valgrind; about a minute at 1 app.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import plan_floor  # the bench's own helpers, beside this file

# The program callgrind runs in the project copy: argv = labels file, modules file or "", names to mark.
MARKED_PLAN = """
import contextlib, importlib, io, json, os, sys
labels_file, modules_file, names = sys.argv[1], sys.argv[2], sys.argv[3:]
labels = []

def mark(label):
    labels.append(label)
    os.getppid()  # callgrind starts a new part here

mark("start")
if modules_file:
    for module in json.load(open(modules_file))["modules"]:
        importlib.import_module(module)
    mark("the SDK modules imported")

def marked(function, label):
    def wrapper(*args, **kwargs):
        mark(f"before {label}")
        try:
            return function(*args, **kwargs)
        finally:
            mark(label)
    return wrapper

for name in names:
    module_name, _, attribute = name.partition(":")
    if not attribute:
        module_name, _, attribute = name.rpartition(".")
    owner = importlib.import_module(module_name)
    *outer, last = attribute.split(".")
    for part in outer:
        owner = getattr(owner, part)
    setattr(owner, last, marked(getattr(owner, last), attribute))
mark("the marked modules imported")
from review.__main__ import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["plan"])
mark("end")
json.dump(labels, open(labels_file, "w"))
sys.exit(code)
"""


def phases(project: Path, names: list[str], modules_file: Path | None, work: Path) -> tuple[Counter, Counter]:
    """Instructions by (mark before, mark after), and how many parts each pair names."""
    out, labels_file = work / "callgrind.out", work / "labels.json"
    command = [
        shutil.which("valgrind") or "valgrind", "--tool=callgrind", "--dump-before=getppid",
        f"--callgrind-out-file={out}", sys.executable, "-c", MARKED_PLAN,
        str(labels_file), str(modules_file or ""), *names,
    ]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True,
                          env={**os.environ, "PYTHONHASHSEED": "0"}, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the marked plan failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    labels = json.loads(labels_file.read_text(encoding="utf-8"))
    parts = sorted(work.glob("callgrind.out.*"), key=lambda path: int(path.suffix[1:]))
    counts = [int(re.search(r"^(?:summary|totals): (\d+)", path.read_text(), re.M).group(1)) for path in parts]
    # Part 0 runs from the interpreter's start to the first mark; part k from mark k-1 to mark k (or the exit).
    names_of = ["interpreter start", *labels, "exit"]
    totals: Counter = Counter()
    calls: Counter = Counter()
    for index, count in enumerate(counts):
        pair = f"{names_of[index]} -> {names_of[index + 1]}"
        totals[pair] += count
        calls[pair] += 1
    return totals, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="module.function or module:Class.method to mark")
    parser.add_argument("--apps", type=int, default=1)
    parser.add_argument("--sdk-first", action="store_true", help="import the plan's SDK modules before marking")
    parser.add_argument("--top", type=int, default=30, help="how many phases to print, largest first")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    with tempfile.TemporaryDirectory(prefix="bench-phases-") as tmp:
        work = Path(tmp)
        project = plan_floor.project_with_apps(args.apps, work / "project")
        modules_file = None
        if args.sdk_first:
            modules_file = work / "modules.json"
            modules_file.write_text(plan_floor.run([sys.executable, "-c", plan_floor.LIST_MODULES], project)[2],
                                    encoding="utf-8")
        totals, calls = phases(project, args.names, modules_file, work)
    print(f"review plan, {args.apps} app(s): {sum(totals.values()) / 1e6:,.1f}M instructions")
    for pair, count in totals.most_common(args.top):
        print(f"{count / 1e6:10,.1f}M  x{calls[pair]:<5d} {pair}")


if __name__ == "__main__":
    main()
