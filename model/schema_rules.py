"""Our departures from stock JSON Schema (whole-text patterns, linear uniqueItems, real e-mail/URI formats).

Shared by the jsonschema validator (model/schema_check.py) and the compiled predicate (model/schema_predicate.py),
so that both apply the same rules; this module must not import jsonschema (a valid plan never loads it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from model.patterns import pattern
from model.validators import email_problem, url_problem

# The `format` values the policy schemas may use, each with the check that gives its problem (None when fine).
# jsonschema only looks for an `@` in an e-mail, and checks `uri` only when an optional package is installed
# (it is not), so both are replaced by the validators in model/validators.py.
FORMAT_PROBLEMS: dict[str, Callable[[str], str | None]] = {"email": email_problem, "uri": url_problem}


def _canonical(value: Any) -> Any:
    """A JSON value in the form in which equal values (as JSON Schema defines equality) print the same."""
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 1 and 1.0 are the same number
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    return value


def has_duplicates(items: list[Any]) -> bool:
    """True when two items of the list are equal JSON values (1 and 1.0 are; true and 1 are not).

    Linear time: jsonschema compares unhashable items (mappings) pairwise, and a list of 5,000 mappings, 40 KB
    of YAML, took a minute.
    """
    seen: set[str] = set()
    for item in items:
        key = json.dumps(_canonical(item), sort_keys=True)
        if key in seen:
            return True
        seen.add(key)
    return False


# An unescaped `$` outside a character class: the end anchor of a pattern.
_END_ANCHOR = pattern(r"(?<!\\)\$")


@cache
def whole_text_pattern(pattern: str) -> re.Pattern[str]:
    """`pattern` with `$` meaning the end of the text. Python's `$` also matches before a final newline, so
    `^[a-z]+$` let `id: "shop\\n"` through the schema (ECMA-262, which JSON Schema names, has no such rule)."""
    return re.compile(_END_ANCHOR.sub(r"\\Z", pattern))
