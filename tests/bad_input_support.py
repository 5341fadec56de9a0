"""Helpers for the bad-input tests: apply a corpus case's edits, run the offline plan in-process, read its verdict."""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import PolicyError, Problem
from model.inputs import load_inputs
from review.__main__ import EXIT_INVALID, _validated_inputs, plan

CORPUS = Path(__file__).resolve().parent / "fixtures" / "bad_inputs"
STACK = "prod"


def expand(segments: str | list | None) -> str:
    """A corpus text: a string, or a list of strings and [text, times] repetitions (deep nesting, big files).

    [text, times, "numbered"] repeats `text` with `{}` replaced by 0, 1, 2 ... (many distinct items).
    """
    if segments is None or isinstance(segments, str):
        return segments or ""
    return "".join(_expand_part(part) for part in segments)


def _expand_part(part: str | list) -> str:
    if isinstance(part, str):
        return part
    if len(part) == 3 and part[2] == "numbered":
        return "".join(part[0].format(i) for i in range(part[1]))
    return part[0] * part[1]


def apply_edits(project: Path, edits: list[dict[str, Any]]) -> dict[str, str]:
    """Apply a case's edits (first occurrence of `find` replaced; no `find`: appended); the edited texts by file."""
    texts: dict[str, str] = {}
    for edit in edits:
        file = edit["file"]
        text = texts.get(file, (project / file).read_text(encoding="utf-8"))
        replacement = expand(edit["replace"])
        if edit.get("find") is None:
            text += replacement
        else:
            assert edit["find"] in text, f"{file} no longer contains {edit['find']!r}: update the corpus case"
            text = text.replace(edit["find"], replacement, 1)
        texts[file] = text
        (project / file).write_bytes(text.encode(edit.get("encoding", "utf-8")))
    return texts


def line_of(text: str, fragment: str) -> int:
    """The 1-based line on which `fragment` first occurs in `text`."""
    offset = text.find(fragment)
    assert offset >= 0, f"{fragment!r} not found"
    return text.count("\n", 0, offset) + 1


@dataclass
class Verdict:
    """What `python -m review plan` does with a project: its exit code, outputs, and how long validation took."""

    code: int
    stdout: str
    stderr: str
    problems: tuple[Problem, ...]
    validation_seconds: float


def validated_inputs(project: Path) -> tuple[Any, ...]:
    """Everything the program would be given: stack config values and secret keys, estate, dashboards."""
    config = _validated_inputs(project, STACK)
    estate, dashboards = load_inputs(project, stack=STACK)
    return config.values, config.secret_keys, estate, dashboards


def run_plan(project: Path, *, full: bool = True, unless_same_as: tuple[Any, ...] | None = None) -> Verdict:
    """Validate the project in-process (timed), then, when it is valid and `full`, plan it as the CLI does.

    With `unless_same_as` (the inputs of a project already planned), a project whose inputs equal them is not
    planned again: the program is a function of its inputs, so its plan is that project's.
    """
    # CPU time of this process, not wall time: the bound is about the loader's own work (a hang, a quadratic
    # blow-up), and other processes on a shared 2-core CI machine must not be able to fail it.
    started = time.process_time()
    problems: tuple[Problem, ...] = ()
    inputs = None
    try:
        inputs = validated_inputs(project)
    except PolicyError as err:
        problems = err.problems
    seconds = time.process_time() - started
    if not problems and (not full or inputs == unless_same_as):
        return Verdict(0, "", "", problems, seconds)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = plan(project, STACK, "json")
    return Verdict(code, out.getvalue(), err.getvalue(), problems, seconds)


_LOCATED = re.compile(r"^  (?P<file>[^\s:]+):(?P<line>[1-9][0-9]*): ", re.M)


def assert_invalid_and_located(project: Path, verdict: Verdict) -> None:
    """Exit 2, nothing planned, and every problem printed as `file:line: ...` for a file that exists."""
    assert verdict.code == EXIT_INVALID, f"exit {verdict.code}:\n{verdict.stderr[-3000:]}"
    assert verdict.stdout == "", "something was planned"
    assert "Traceback" not in verdict.stderr
    assert verdict.problems, verdict.stderr
    for problem in verdict.problems:
        assert problem.line >= 1, f"no line: {problem}"
        assert (project / problem.file).is_file(), f"not a file: {problem}"
        assert f"  {problem}" in verdict.stderr
    assert len(_LOCATED.findall(verdict.stderr)) == len(verdict.problems), verdict.stderr


def load_case(path: Path) -> dict[str, Any]:
    """One corpus case: its class (as the issue names it), edits and expected problems."""
    return json.loads(path.read_text(encoding="utf-8"))
