"""Running promtool from tests: find it (or fail saying how to install it), batch files, read per-file results."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL_HINT = (
    "promtool is not on PATH: install the prometheus package "
    "(DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus), "
    "these tests prove the alert rules and must not be skipped"
)
_TIMEOUT_SECONDS = 180
_FILE_MARKER = "Unit Testing:  "


def promtool() -> str:
    """The promtool executable; fails the calling test (never skips) when it is missing."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(INSTALL_HINT)
    return found


@dataclass(frozen=True)
class Outcome:
    """What promtool said about one test file."""

    passed: bool
    output: str


def check_rules(rule_file: Path) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` on one file."""
    return subprocess.run(
        [promtool(), "check", "rules", str(rule_file)],
        capture_output=True, text=True, timeout=_TIMEOUT_SECONDS, check=False,
    )


def run_tests(files: list[Path]) -> tuple[int, dict[Path, Outcome]]:
    """One `promtool test rules` run over many files: its exit code and each file's outcome."""
    # stderr (FAILED details) merged into stdout keeps each file's report under its own heading.
    completed = subprocess.run(
        [promtool(), "test", "rules", *map(str, files)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=_TIMEOUT_SECONDS, check=False,
    )
    reports: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in completed.stdout.splitlines():
        if line.startswith(_FILE_MARKER):
            current = reports.setdefault(line[len(_FILE_MARKER):].strip(), [])
        elif current is not None:
            current.append(line)
    outcomes = {}
    for path in files:
        lines = reports.get(str(path))
        if lines is None:
            outcomes[path] = Outcome(False, f"promtool did not report on this file:\n{completed.stdout}")
            continue
        text = "\n".join(lines).strip()
        outcomes[path] = Outcome(text.startswith("SUCCESS") and "FAILED" not in text, text)
    return completed.returncode, outcomes
