"""Time to reject each bad-input corpus case (in-process validation), as a ratio to validating the shipped tree.

    .venv/bin/python bench/bad_input_walltime.py [--runs 5]

The floor is the same validation of the unmodified project, measured in the same run; a case's ratio says how
much more a bad input costs than a good one (an alias bomb or deep nesting must not cost much more).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.errors import PolicyError  # noqa: E402 - the project root must be importable first
from review.__main__ import _validated_inputs  # noqa: E402
from tests.bad_input_support import CORPUS, apply_edits, load_case  # noqa: E402

_COPIED = ("alert_policies", "runbooks", "dashboards", "schemas")


def _fresh_copy(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    for name in _COPIED:
        shutil.copytree(ROOT / name, target / name)
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, target / name)


def median_validation_seconds(project: Path, runs: int) -> float:
    """Median wall time of validating `project` (policies, dashboards, stack config) in-process."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        with contextlib.suppress(PolicyError):
            _validated_inputs(project, "prod")
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    """Print the floor, then one line per corpus case: median seconds and ratio to the floor."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="bad-input-bench-") as tmp:
        project = Path(tmp) / "project"
        _fresh_copy(project)
        median_validation_seconds(project, 1)  # warm-up: imports and compiled schemas
        floor = median_validation_seconds(project, runs)
        print(f"{'shipped tree (floor)':36s} median {floor:6.3f} s")
        worst = 0.0
        for case_file in sorted(CORPUS.glob("*.json")):
            _fresh_copy(project)
            apply_edits(project, load_case(case_file)["edits"])
            seconds = median_validation_seconds(project, runs)
            worst = max(worst, seconds / floor)
            print(f"{case_file.stem:36s} median {seconds:6.3f} s  ratio {seconds / floor:5.2f}")
        print(f"{'worst ratio':36s} {worst:.2f}")


if __name__ == "__main__":
    main()
