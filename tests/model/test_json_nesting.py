"""The JSON nesting guard counts brackets outside strings only, and names the line where the limit is passed."""

from __future__ import annotations

import random

from model.limits import json_nesting_problem


def _read_slowly(text: str, max_depth: int) -> tuple[int, str] | None:
    """The guard's definition, read one character at a time."""
    depth = 0
    in_string = escaped = False
    for offset, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                return text.count("\n", 0, offset) + 1, f"nested deeper than {max_depth} levels"
        elif char in "]}":
            depth -= 1
    return None


def test_brackets_inside_strings_do_not_count_towards_the_depth() -> None:
    text = '{"a": "[[[[{{{{", "b": "\\\\\\"[[[[", "c": [1]}'
    assert json_nesting_problem(text, max_depth=2) is None
    assert json_nesting_problem(text, max_depth=1) == (1, "nested deeper than 1 levels")


def test_an_escaped_quote_does_not_end_a_string() -> None:
    assert json_nesting_problem('["\\"[[[["]', max_depth=1) is None
    assert json_nesting_problem('["\\\\"[[]]]', max_depth=1) == (1, "nested deeper than 1 levels")


def test_an_unclosed_string_hides_the_brackets_after_it() -> None:
    assert json_nesting_problem('[\n"open [[[[\n[[[[', max_depth=1) is None
    assert json_nesting_problem('[\n"ends in a backslash\\', max_depth=1) is None


def test_the_problem_is_on_the_line_of_the_first_bracket_past_the_limit() -> None:
    text = '{\n  "a": {\n    "b": [\n      "[{", {"c": 1}\n    ]\n  }\n}\n'
    assert json_nesting_problem(text, max_depth=3) == (4, "nested deeper than 3 levels")


def test_the_guard_agrees_with_a_character_by_character_reading_on_random_texts() -> None:
    pieces = ['"', "\\", "[", "]", "{", "}", "a", ",", "\n", '"x"', "\\\\"]
    rng = random.Random(12)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        for limit in (0, 1, 2, 3):
            assert json_nesting_problem(text, max_depth=limit) == _read_slowly(text, limit), (text, limit)
