"""Wall time of `python -m review plan` (median of N runs) next to the bare SDK import it cannot avoid."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "import pulumi, pulumi_pagerduty": [sys.executable, "-c", "import pulumi, pulumi_pagerduty"],
    "import every SDK the program uses": [
        sys.executable, "-c", "import pulumi, pulumi_pagerduty, pulumi_random, pulumiverse_grafana",
    ],
    "python -m review plan": [sys.executable, "-m", "review", "plan"],
}


def median_seconds(command: list[str], runs: int) -> tuple[float, list[float]]:
    """Median wall time of `runs` executions of `command` (output discarded)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main() -> None:
    """Print one line per command: median and all samples."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    for label, command in COMMANDS.items():
        median, samples = median_seconds(command, runs)
        print(f"{label:36s} median {median:6.3f} s  samples {' '.join(f'{s:.3f}' for s in samples)}")


if __name__ == "__main__":
    main()
