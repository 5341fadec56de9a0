"""PolicyError: every problem, sorted, at most MAX_PROBLEMS_PER_FILE per file with a note where more were cut."""

from __future__ import annotations

from model.errors import MAX_PROBLEMS_PER_FILE, PolicyError, Problem


def _many(file: str, count: int) -> list[Problem]:
    return [Problem(file, line, f"items[{line}]", "must be one of a, b") for line in range(count, 0, -1)]


def test_a_file_with_more_problems_than_the_cap_lists_the_first_ones_and_says_more_follow():
    problems = PolicyError(_many("a.yaml", MAX_PROBLEMS_PER_FILE + 30) + _many("b.yaml", 3)).problems
    in_a = [p for p in problems if p.file == "a.yaml"]
    assert [p.line for p in in_a if p.path] == list(range(1, MAX_PROBLEMS_PER_FILE + 1))
    notes = [p for p in in_a if not p.path]
    assert [(p.line, "more problems from here on" in p.message) for p in notes] == [(MAX_PROBLEMS_PER_FILE + 1, True)]
    assert [p.line for p in problems if p.file == "b.yaml"] == [1, 2, 3]


def test_gathering_the_problems_of_one_error_into_another_cuts_nothing_twice():
    first = PolicyError(_many("a.yaml", MAX_PROBLEMS_PER_FILE + 30))
    again = PolicyError([*first.problems, Problem("a.yaml", 500, "x", "a cross-file problem")])
    assert again.problems == first.problems


def test_a_file_at_the_cap_is_listed_whole():
    assert len(PolicyError(_many("a.yaml", MAX_PROBLEMS_PER_FILE)).problems) == MAX_PROBLEMS_PER_FILE
