"""Gate time on large previews (1,000 / 3,000 / 10,000 steps) next to the floor: json.loads of the same file."""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from review.comment import render_markdown  # noqa: E402
from review.gate import evaluate, load_preview  # noqa: E402

TEMPLATE = ROOT / "tests" / "fixtures" / "preview" / "threshold-update.json"


def write_preview(steps: int, target: Path) -> None:
    """A digest with `steps` updates and, every 50th, a protected delete refused by the engine."""
    document = json.loads(TEMPLATE.read_text())
    update = next(s for s in document["steps"] if s["op"] == "update")
    listed, diagnostics = [document["steps"][0]], []
    for index in range(steps):
        step = copy.deepcopy(update)
        step["urn"] = f"{update['urn']}-{index}"
        if index % 50 == 0:
            step["op"], step["newState"] = "delete", None
            step["oldState"]["protect"] = True
            diagnostics.append({"urn": step["urn"], "severity": "error",
                                "message": f'resource "{step["urn"]}" cannot be deleted because it is protected'})
        listed.append(step)
    document.update(steps=listed, diagnostics=diagnostics, changeSummary={"update": steps, "same": 1})
    target.write_text(json.dumps(document))


def median(action, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'steps':>6} {'json.loads':>11} {'gate+comment':>13} {'ratio':>6}")
        for steps in (1_000, 3_000, 10_000):
            path = Path(tmp) / f"preview-{steps}.json"
            write_preview(steps, path)
            floor = median(lambda p=path: json.loads(p.read_text()), args.runs)

            def gate(p: Path = path) -> None:
                preview = load_preview(p)
                render_markdown(preview, evaluate(preview, allow_label_present=False))

            measured = median(gate, args.runs)
            print(f"{steps:>6} {floor * 1000:>9.1f}ms {measured * 1000:>11.1f}ms {measured / floor:>6.1f}")


if __name__ == "__main__":
    main()
