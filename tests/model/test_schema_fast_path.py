"""The compiled validity check (jsonschema-rs) never passes what jsonschema rejects: every policy file, broken copies.

model/schema_check.py trusts the compiled check when it calls a file valid and asks jsonschema otherwise, so a
file the compiled check passes while jsonschema finds problems would have them go unreported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from model.schema_check import fast_valid, schema_problems, validator
from model.strict_yaml import load_document

ROOT = Path(__file__).resolve().parents[2]
POLICY_FILES = sorted([*ROOT.glob("alert_policies/**/*.yaml"), *ROOT.glob("tests/estates/*/alert_policies/**/*.yaml")])
# Per file, at most this many single-value breakages (spread over the file): enough to reach every part of it.
MAX_BREAKAGES = 60


def _paths(node: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))


def _replaced(node: Any, path: tuple, make: Any) -> Any:
    if not path:
        return make(node)
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = _replaced(node[path[0]], path[1:], make)
    return copy


_DELETE = object()


def _breakages(value: Any) -> list[Any]:
    """Wrong values for `value`'s place: each a thing a policy author could write."""
    if isinstance(value, bool):
        return ["yes", 1]
    if isinstance(value, int | float):
        return [-1, 0, 10**12, 2.5, "7", None]
    if isinstance(value, str):
        return [7, "", "Not An Id!", "not-an-email", "ftp//nowhere", value + "\n", value * 40, None]
    if isinstance(value, list):
        return [[], value + value[:1], "a list", [None]]
    if isinstance(value, dict):
        return [{}, {**value, "colour": "teal"}, _DELETE, []]
    return [7]


def _broken_copies(data: dict) -> Iterator[Any]:
    paths = [p for p in _paths(data) if p and p != ("kind",)]
    step = max(1, len(paths) // MAX_BREAKAGES)
    for path in paths[::step]:
        for wrong in _breakages(_value_at(data, path)):
            if wrong is _DELETE:
                parent = _value_at(data, path[:-1])
                if isinstance(parent, dict):
                    yield _replaced(data, path[:-1], lambda node, key=path[-1]: {k: v for k, v in node.items()
                                                                                  if k != key})
                continue
            yield _replaced(data, path, lambda _, wrong=wrong: wrong)


def _value_at(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_compiled_check_passes_no_broken_copy_that_jsonschema_rejects(path: Path):
    doc, problems = load_document(path.read_text(encoding="utf-8"), str(path))
    assert doc is not None and not problems
    kind = doc.data["kind"]
    assert fast_valid(doc.data, kind), "a valid policy file takes the fast path"
    unreported = []
    for instance in _broken_copies(doc.data):
        if fast_valid(instance, kind) and any(True for _ in validator(kind).iter_errors(instance)):
            unreported.append(repr(instance)[:300])
    # The other way round is allowed and happens: the compiled check's `$` does not match before a final newline,
    # Python's does, so "careflex\n" as an id fails it and passes jsonschema, which decides (valid).
    assert unreported == []


def test_a_file_the_compiled_check_rejects_gets_jsonschemas_located_messages():
    path = next(p for p in POLICY_FILES if "/apps/" in p.as_posix())
    text = path.read_text(encoding="utf-8") + "\nnot_a_policy_key: 1\n"
    doc, _ = load_document(text, "apps/broken.yaml")
    assert doc is not None
    assert not fast_valid(doc.data, "app")
    [(_, problem)] = schema_problems(doc, "app")
    assert problem.path == "not_a_policy_key" and "unknown key" in problem.message and problem.line > 1
