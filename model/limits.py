"""Input limits (file size, nesting depth) and reading a file as UTF-8 text with the line of any bad byte."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from model.errors import Problem
from model.patterns import pattern

# Policy files and stack configs are hand-written and a few KB (the biggest shipped one is under 10 KB); 256 KB
# is a mistake (a pasted log, a generated file in the wrong place). The cap also bounds the time a file can cost:
# composing and checking YAML runs in Python at roughly 1 s per 250 KB even with the C parser.
MAX_YAML_BYTES = 256_000
# Exported Grafana dashboards are bigger (the shipped ones are 18-47 KB; large real ones a few hundred KB). The
# line map of a dashboard is built in Python at about 1 s per MB, so 1 MB also keeps a file under the 2 s bound.
MAX_JSON_BYTES = 1_000_000
# The deepest shipped policy path is 7 levels (escalation_policies[].levels[].targets[].schedule) and the
# deepest dashboard path about 10; the limits leave room and stay far below Python's recursion limit,
# which recursive parsers (PyYAML's composer, json, jsonschema) would otherwise hit with a traceback.
MAX_YAML_DEPTH = 32
# Composing and checking costs about 50 µs per YAML value in Python; the shipped app file has about 600 values.
# 20,000 keeps any file within a second, whatever the size cap lets through (dense lists: 60,000 took 2.7 s).
MAX_YAML_NODES = 20_000
MAX_JSON_DEPTH = 64

# promql-parser (Rust) recurses per nesting level and per binary operator: 5,000 chained `1+` overflow its
# stack (a segfault no `except` can catch), 20,000 chained `or` run for minutes, and 2,000 take over a second.
# Real alert expressions stay under a few hundred characters, a few levels and a dozen operators.
MAX_PROMQL_CHARS = 2_000
MAX_PROMQL_DEPTH = 32
MAX_PROMQL_OPERATORS = 64

# At most model.errors.MAX_PROBLEMS_PER_FILE problems are listed per file (it lives there: this module needs Problem).


def read_source(path: Path, shown_as: str, max_bytes: int) -> tuple[str | None, list[Problem]]:
    """The file's text, or None with a located problem: too big, unreadable, or not UTF-8 (at the bad byte's line)."""
    try:
        with path.open("rb") as file:
            raw = file.read(max_bytes + 1)  # never more than the limit (and one byte to know it was crossed)
    except OSError as err:
        return None, [Problem(shown_as, 0, "", f"cannot be read: {err.strerror}")]
    if len(raw) > max_bytes:
        line = raw.count(b"\n", 0, max_bytes) + 1
        return None, [
            Problem(shown_as, line, "", f"is larger than the limit of {max_bytes:,} bytes (reached on this line)")
        ]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        byte = raw[err.start]
        return None, [
            Problem(
                shown_as, line, "",
                f"not UTF-8 text: byte 0x{byte:02X} at column {column} ({err.reason}); save the file as UTF-8",
            )
        ]


def line_of_offset(text: str, offset: int) -> int:
    """The 1-based line of a character offset in `text`."""
    return text.count("\n", 0, max(0, min(offset, len(text)))) + 1


# A JSON string (an unterminated one runs to the end of the text) or a bracket: strings are skipped whole, so the
# brackets inside them do not count.
_JSON_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"?'
_JSON_STRING_OR_BRACKET = pattern(_JSON_STRING + r"|[\[\]{}]", re.DOTALL)
_JSON_STRINGS = pattern(_JSON_STRING, re.DOTALL)
# What is left of a text without its strings, less everything but brackets: +1 for an opening one, -1 for a closing.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_nesting_problem(text: str, max_depth: int = MAX_JSON_DEPTH) -> tuple[int, str] | None:
    """(line, message) where a JSON text first nests deeper than `max_depth`, else None.

    A linear scan that knows only strings and brackets, so it runs before (and protects) the recursive parsers.
    The depth is found without a Python step per token: the strings go in one substitution (the same matches the
    scan below makes, as a bracket never holds a quote) and the brackets left are summed in C. Only a text that
    nests too deep is scanned token by token, for the line (a loop over every token cost ~4 ms per plan on the
    shipped dashboards, over every character ~20 ms).
    """
    brackets = _JSON_STRINGS.sub("", text).encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKETS)
    if max(itertools.accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0) <= max_depth:
        return None
    depth = 0
    for match in _JSON_STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return line_of_offset(text, match.start()), f"nested deeper than {max_depth} levels"
        elif token in ("]", "}"):
            depth -= 1
    return None
