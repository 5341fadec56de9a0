"""Policy problems: one located message each, and the error that carries all of them at once."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable

from model.record import record

# A file with thousands of problems (a list of 60,000 wrong items) is one mistake repeated; listing them all cost
# 10 s. Each file lists at most this many, then says that more follow (also model/schema_check.py).
MAX_PROBLEMS_PER_FILE = 50


@record(order=True)
class Problem:
    """One thing wrong with one place in one input file."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PolicyError(Exception):
    """Every problem found in the inputs; raised only after all of them were collected."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(_capped(set(problems))))
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in the policy files:"
        super().__init__("\n".join([header, *(f"  {p}" for p in self.problems)]))


_MORE = "more problems from here on; the first {} are listed: fix these and run again"


def _capped(problems: set[Problem]) -> list[Problem]:
    """At most MAX_PROBLEMS_PER_FILE problems per file (the first by line), and a note where more were left out.

    Idempotent: the problems of a PolicyError can be gathered into another one (the note is not counted twice).
    """
    note = _MORE.format(MAX_PROBLEMS_PER_FILE)
    by_file: dict[str, list[Problem]] = defaultdict(list)
    notes: dict[str, int] = {}
    for problem in problems:
        if problem.message == note and not problem.path:
            notes[problem.file] = min(problem.line, notes.get(problem.file, problem.line))
        else:
            by_file[problem.file].append(problem)
    kept: list[Problem] = []
    for file, found in by_file.items():
        first = heapq.nsmallest(MAX_PROBLEMS_PER_FILE + 1, found, key=lambda p: (p.line, p.path, p.message))
        kept += first[:MAX_PROBLEMS_PER_FILE]
        if len(first) > MAX_PROBLEMS_PER_FILE:
            notes[file] = min(first[-1].line, notes.get(file, first[-1].line))
    kept += [Problem(file, line, "", note) for file, line in notes.items()]
    return kept
