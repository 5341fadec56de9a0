"""Strict YAML loading: no duplicate keys, no YAML 1.1 surprises, and a line for every path."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from model.errors import Problem
from model.limits import MAX_YAML_DEPTH, MAX_YAML_NODES, line_of_offset
from model.patterns import pattern

Path_ = tuple[str | int, ...]

_STR_TAG = "tag:yaml.org,2002:str"
_QUOTED_STYLES = {"'", '"', "|", ">"}

_NULL = pattern(r"^(~|null|Null|NULL|)$")
_TRUE = pattern(r"^(true|True|TRUE)$")
_FALSE = pattern(r"^(false|False|FALSE)$")
_INT = pattern(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT = pattern(r"^[-+]?(\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+)([eE][-+]?[0-9]+)?$")
# Scalars that YAML 1.1 loaders (PyYAML, many editors' tools) read as something else than the text.
_YAML11_BOOL = pattern(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")
_YAML11_SEXAGESIMAL = pattern(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")
_YAML11_RADIX = pattern(r"^[-+]?(0[0-9_]+|0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+)$")
_YAML11_UNDERSCORE_NUMBER = pattern(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?$")
_YAML11_TIMESTAMP = pattern(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?$")
_SPECIAL_FLOAT = pattern(r"^[-+]?\.(inf|Inf|INF|nan|NaN|NAN)$")
# The first characters any of the patterns above can match at (a newline: `$` also matches before a final one, so
# `^(...|)$` matches "\n"). A plain scalar starting with anything else is text for every one of them, which is
# most scalars (`critical`, `email`, `https://...`): the eleven matches are skipped.
_MAY_NOT_BE_TEXT = frozenset("~nNtTfFyYoO+-.0123456789\n")


# Integers longer than this are a typo (or an attack on int(): Python refuses >4300 digits with a traceback).
_MAX_INT_DIGITS = 18
# Errors PyYAML reports at the end of what it read, whose cause is where the construct began (context mark).
_OPENED_HERE = {
    "while scanning a quoted scalar": "a quoted string starts here and is never closed",
    "while parsing a flow sequence": "a [ list opened here is never closed (expected , or ])",
    "while parsing a flow mapping": "a { mapping opened here is never closed (expected , or })",
    "while scanning a simple key": "this line is not `key: value`: is the space after the colon missing?",
}
# libyaml's own flow-nesting limit (1000), met before ours when the brackets come faster than the nodes.
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"


class _TooDeep(yaml.MarkedYAMLError):
    """Raised while composing when the document nests deeper than MAX_YAML_DEPTH."""


class _TooBig(yaml.MarkedYAMLError):
    """Raised while composing when the document holds more than MAX_YAML_NODES values."""


# libyaml (PyYAML's C parser) parses 10-30x faster than the pure-Python one and limits flow nesting itself, where
# the pure-Python scanner takes quadratic time on `[[[[...`; the PyYAML wheels ship it, the fallback is for builds
# without it. Everything after the parser's events is done here, in Python (_Builder): that is where aliases,
# depth and size are controlled.
_LIBYAML: bool = yaml.__with_libyaml__
_PARSER_BASES: tuple[type, ...] = (
    (yaml.cyaml.CParser,) if _LIBYAML else (yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser)
)
_ScanLoader: type = yaml.CSafeLoader if _LIBYAML else yaml.SafeLoader


class _EventReader(*_PARSER_BASES):  # type: ignore[misc]
    """The YAML parser over one text: its events, read one at a time (get_event, peek_event)."""

    def __init__(self, stream: str) -> None:
        if _LIBYAML:
            yaml.cyaml.CParser.__init__(self, stream)
        else:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


@dataclass
class Document:
    """A loaded YAML file: its data and the 1-based line of every path in it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    skip: dict[str, set[int]] = field(default_factory=dict)  # list items that failed validation
    raw_ids: dict[str, set[str]] = field(default_factory=dict)  # every id as written, valid or not

    def items(self, key: str) -> list[tuple[int, dict]]:
        """The (index, item) pairs of top-level list `key` that passed validation."""
        skipped = self.skip.get(key, set())
        return [(i, item) for i, item in enumerate(self.data.get(key, [])) if i not in skipped]

    def line_of(self, path: Path_) -> int:
        """The line of `path`, or of its closest ancestor that has one."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), 1)


def format_path(path: Path_) -> str:
    """`("alerts", 2, "threshold")` → `alerts[2].threshold`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def load_document(text: str, file: str) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML document strictly; return it with every problem found (None if unparsable)."""
    events = None
    doc = Document(file=file, data=None)
    problems: list[Problem] = []
    try:
        events = _EventReader(text)  # checks every character up front (ReaderError)
        events.get_event()  # the stream's start
        if isinstance(events.peek_event(), yaml.StreamEndEvent):
            return None, [Problem(file, 1, "", "the file is empty")]
        events.get_event()  # the document's start
        first = events.peek_event().start_mark
        doc.data = _Builder(events, doc, problems).value(())
        events.get_event()  # the document's end
        if not isinstance(events.peek_event(), yaml.StreamEndEvent):
            second = events.get_event().start_mark
            raise yaml.composer.ComposerError(None, first, "a second document starts here: a file holds one", second)
    except yaml.MarkedYAMLError as err:
        return None, [_syntax_problem(err, file, text)]
    except yaml.reader.ReaderError as err:
        # Reported by character position (a control character, say): turn it into the line it is on.
        what = f"character U+{err.character:04X}" if isinstance(err.character, int) else "a character"
        line = line_of_offset(text, err.position)
        return None, [Problem(file, line, "", f"not valid YAML: {what} is not allowed ({err.reason})")]
    except yaml.YAMLError as err:
        return None, [Problem(file, 1, "", f"not valid YAML: {err}")]
    finally:
        if events is not None:
            events.dispose()
    return doc, problems


def _syntax_problem(err: yaml.MarkedYAMLError, file: str, text: str) -> Problem:
    """The parser's own mark: where an unclosed construct began when that is the cause, else where it failed."""
    opened = _OPENED_HERE.get(err.context or "")
    if opened and err.context_mark is not None:
        found = f" ({err.problem} on line {err.problem_mark.line + 1})" if err.problem_mark else ""
        return Problem(file, err.context_mark.line + 1, "", f"not valid YAML: {opened}{found}")
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark else 1
    if isinstance(err, _TooDeep) or err.problem == _LIBYAML_TOO_DEEP:
        return Problem(file, line, "", f"not valid YAML: nested deeper than {MAX_YAML_DEPTH} levels")
    if isinstance(err, _TooBig):
        return Problem(file, line, "", f"not accepted: the file {err.problem} (reached on this line)")
    runaway = _runaway_quote_line(text, line)
    if runaway:
        return Problem(
            file, runaway, "",
            f"not valid YAML: a quoted string starts here and is never closed: it runs on to the next quote "
            f"on line {line}, where the parser stopped ({err.problem or err})",
        )
    return Problem(file, line, "", f"not valid YAML: {err.problem or err}")


def _runaway_quote_line(text: str, error_line: int) -> int | None:
    """The start line of a quoted string that spans lines and ends on `error_line`, if there is one.

    A missing closing quote does not fail where it is missing: the string swallows the following lines up to
    the next quote character, and the parser fails there. A multi-line quoted string that ends exactly where the
    parser failed is that runaway string (policy files have no reason to quote across lines).
    """
    start = None
    try:
        for token in yaml.scan(text, Loader=_ScanLoader):
            if token.start_mark.line + 1 > error_line:
                break
            if (
                isinstance(token, yaml.ScalarToken)
                and token.style in ('"', "'")
                and token.start_mark.line < token.end_mark.line
                and token.end_mark.line + 1 == error_line
            ):
                start = token.start_mark.line + 1
    except yaml.YAMLError:
        pass  # the same error the parser met; what was scanned before it is all this needs
    return start


class _Builder:
    """The document's data, the line of each path and the problems, from the parser's events in one pass.

    What PyYAML's composer and a constructor do in two (a tree of nodes, then a walk over it), without the tree,
    which cost a plan twice what reading the events does. Nothing is guessed: every scalar is text unless it is
    written as a YAML 1.2 null, boolean or number (`_scalar`). An alias (*name) is reported where it is written
    and read as nothing: expanding aliases is how a 2 KB "billion laughs" file becomes gigabytes, and policy
    files gain nothing from them that writing the value out does not give. A mapping key that is not plain text,
    a merge key (<<) and a repeated key are reported, and what follows them is read for the limits and anchors
    only. Past MAX_YAML_DEPTH levels or MAX_YAML_NODES values the whole file is refused, as for a syntax error.
    """

    def __init__(self, events: _EventReader, doc: Document, problems: list[Problem]) -> None:
        self.get_event, self.peek_event = events.get_event, events.peek_event
        self.doc, self.problems = doc, problems
        self.depth = 0
        self.nodes = 0
        self.anchors: dict[str, yaml.Mark] = {}  # anchor → where it was first set

    def value(self, path: Path_, kept: bool = True) -> Any:
        """The next node's value at `path`; not `kept`: read for the limits and anchors only, nothing recorded."""
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            mark = self.peek_event().start_mark
            raise _TooBig(problem=f"holds more than {MAX_YAML_NODES:,} values", problem_mark=mark)
        event = self.get_event()
        line = event.start_mark.line + 1
        if kept:
            self.doc.lines.setdefault(path, line)
        if isinstance(event, yaml.AliasEvent):
            if kept:
                message = f"aliases (*{event.anchor}) are not supported in these files: write the value out"
                self.problems.append(Problem(self.doc.file, line, format_path(path), message))
            return None
        self.depth += 1
        if self.depth > MAX_YAML_DEPTH:
            raise _TooDeep(problem=f"nested deeper than {MAX_YAML_DEPTH} levels", problem_mark=event.start_mark)
        if event.anchor is not None:
            if event.anchor in self.anchors:
                first = self.anchors[event.anchor].line + 1
                problem = f"the anchor &{event.anchor} is set again (first on line {first})"
                raise yaml.composer.ComposerError(None, None, problem, event.start_mark)
            self.anchors[event.anchor] = event.start_mark
        if isinstance(event, yaml.ScalarEvent):
            result = self._scalar(event, path, line) if kept else None
        elif isinstance(event, yaml.SequenceStartEvent):
            result = self._sequence(path, kept)
        else:  # the parser sends nothing else where a node starts
            result = self._mapping(path, kept)
        self.depth -= 1
        return result

    def _sequence(self, path: Path_, kept: bool) -> list[Any] | None:
        items: list[Any] = []
        while not isinstance(self.peek_event(), yaml.SequenceEndEvent):
            items.append(self.value((*path, len(items)), kept))
        self.get_event()
        return items if kept else None

    def _mapping(self, path: Path_, kept: bool) -> dict[str, Any] | None:
        result: dict[str, Any] = {}
        file, lines = self.doc.file, self.doc.lines
        while not isinstance(self.peek_event(), yaml.MappingEndEvent):
            key_event = self.peek_event()
            self.value(path, kept=False)  # the key: counted, nested and anchored like any node
            if not kept:
                self.value(path, kept=False)
                continue
            line = key_event.start_mark.line + 1
            key = key_event.value if isinstance(key_event, yaml.ScalarEvent) else None
            child = (*path, key)
            if key is None:
                self.problems.append(Problem(file, line, format_path(path), "keys must be plain text"))
            elif key == "<<":
                message = "merge keys (<<) are not supported: write the keys out"
                self.problems.append(Problem(file, line, format_path(path), message))
            elif key in result:
                first = lines.get(child, line)
                message = f"duplicate key (first defined on line {first})"
                self.problems.append(Problem(file, line, format_path(child), message))
            else:
                lines[child] = line
                result[key] = self.value(child)
                continue
            self.value(child, kept=False)  # the value of a key reported above is not read into the data
        self.get_event()
        return result if kept else None

    def _scalar(self, event: yaml.ScalarEvent, path: Path_, line: int) -> Any:
        value: str = event.value
        tag = event.tag
        if tag is not None and tag != "!" and tag != _STR_TAG:  # untagged and `!` scalars are text to resolve
            message = f"explicit YAML tags ({tag}) are not supported"
            self.problems.append(Problem(self.doc.file, line, format_path(path), message))
            return value
        if event.style in _QUOTED_STYLES or (value and value[0] not in _MAY_NOT_BE_TEXT):
            return value
        return _plain_scalar(value, path, line, self.doc.file, self.problems)


def _plain_scalar(value: str, path: Path_, line: int, file: str, problems: list[Problem]) -> Any:
    """An unquoted scalar as YAML 1.2's core schema reads it, and a problem where YAML 1.1 tools read it otherwise."""
    if _NULL.match(value):
        return None
    if _TRUE.match(value):
        return True
    if _FALSE.match(value):
        return False
    if _INT.match(value):
        if len(value.lstrip("+-")) > _MAX_INT_DIGITS:
            problems.append(Problem(file, line, format_path(path), f"{value} is too large a number"))
            return value
        return int(value)
    if _YAML11_RADIX.match(value):
        problems.append(Problem(file, line, format_path(path), _yaml11_surprise(value) or ""))
        return value
    if _FLOAT.match(value):
        number = float(value)
        if not math.isfinite(number):
            message = f"{value} is too large: it overflows to infinity; write a finite number"
            problems.append(Problem(file, line, format_path(path), message))
            return value
        return number
    surprise = _yaml11_surprise(value)
    if surprise:
        problems.append(Problem(file, line, format_path(path), surprise))
    return value


def _yaml11_surprise(value: str) -> str | None:
    """Explain how YAML 1.1 would misread an unquoted scalar, or None when it reads as text anyway."""
    if _YAML11_BOOL.match(value):
        return (
            f'unquoted {value} is the boolean {value.lower() in {"y", "yes", "on"}} in YAML 1.1 and the text '
            f'"{value}" elsewhere: write true/false, or quote it ("{value}") if you mean the text'
        )
    if _YAML11_SEXAGESIMAL.match(value):
        return (
            f'unquoted {value} is a base-60 number in YAML 1.1 (9:30 reads as 570): quote it ("{value}")'
        )
    if _YAML11_RADIX.match(value):
        return (
            f"unquoted {value} is read as an octal/hex/binary number by YAML 1.1 tools: "
            f'write the decimal number, or quote it ("{value}") if you mean the text'
        )
    if _YAML11_UNDERSCORE_NUMBER.match(value):
        return f'unquoted {value} is a number in YAML 1.1 but text elsewhere: drop the underscores or quote it'
    if _YAML11_TIMESTAMP.match(value):
        return f'unquoted {value} is read as a date by YAML 1.1 tools: quote it ("{value}")'
    if _SPECIAL_FLOAT.match(value):
        return f"{value} is not a usable number here: write a finite number"
    return None
