"""Strict YAML loading: no duplicate keys, no YAML 1.1 surprises, and a line for every path."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from model.errors import Problem

Path_ = tuple[str | int, ...]

_STR_TAG = "tag:yaml.org,2002:str"
_QUOTED_STYLES = {"'", '"', "|", ">"}

_NULL = re.compile(r"^(~|null|Null|NULL|)$")
_TRUE = re.compile(r"^(true|True|TRUE)$")
_FALSE = re.compile(r"^(false|False|FALSE)$")
_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+)([eE][-+]?[0-9]+)?$")
# Scalars that YAML 1.1 loaders (PyYAML, many editors' tools) read as something else than the text.
_YAML11_BOOL = re.compile(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")
_YAML11_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")
_YAML11_RADIX = re.compile(r"^[-+]?(0[0-9_]+|0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+)$")
_YAML11_UNDERSCORE_NUMBER = re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?$")
_YAML11_TIMESTAMP = re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?$")
_SPECIAL_FLOAT = re.compile(r"^[-+]?\.(inf|Inf|INF|nan|NaN|NAN)$")


# libyaml's parser when PyYAML has it (about 7x faster on 50 app files; same nodes, marks and errors).
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _NoImplicitTypesLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Composes nodes without guessing types: every plain scalar arrives tagged as a string."""

    yaml_implicit_resolvers: dict = {}  # noqa: RUF012 - a class attribute PyYAML reads by design


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
    try:
        node = yaml.compose(text, Loader=_NoImplicitTypesLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 1
        reason = err.problem or str(err)
        return None, [Problem(file, line, "", f"not valid YAML: {reason}")]
    except yaml.YAMLError as err:
        return None, [Problem(file, 1, "", f"not valid YAML: {err}")]
    if node is None:
        return None, [Problem(file, 1, "", "the file is empty")]
    doc = Document(file=file, data=None)
    problems: list[Problem] = []
    doc.data = _construct(node, (), doc, problems)
    return doc, problems


def _construct(node: yaml.Node, path: Path_, doc: Document, problems: list[Problem]) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        return _construct_mapping(node, path, doc, problems)
    if isinstance(node, yaml.SequenceNode):
        return [_construct(child, (*path, i), doc, problems) for i, child in enumerate(node.value)]
    return _resolve_scalar(node, path, doc, problems)


def _construct_mapping(node: yaml.MappingNode, path: Path_, doc: Document, problems: list[Problem]) -> dict:
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            problems.append(Problem(doc.file, line, format_path(path), "keys must be plain text"))
            continue
        key = key_node.value
        if key == "<<":
            problems.append(
                Problem(doc.file, line, format_path(path), "merge keys (<<) are not supported: write the keys out")
            )
            continue
        child = (*path, key)
        if key in result:
            first = doc.lines.get(child, line)
            problems.append(
                Problem(doc.file, line, format_path(child), f"duplicate key (first defined on line {first})")
            )
            continue
        doc.lines[child] = line
        result[key] = _construct(value_node, child, doc, problems)
    return result


def _resolve_scalar(node: yaml.ScalarNode, path: Path_, doc: Document, problems: list[Problem]) -> Any:
    value: str = node.value
    line = node.start_mark.line + 1
    if node.tag != _STR_TAG:
        message = f"explicit YAML tags ({node.tag}) are not supported"
        problems.append(Problem(doc.file, line, format_path(path), message))
        return value
    if node.style in _QUOTED_STYLES:
        return value
    if _NULL.match(value):
        return None
    if _TRUE.match(value):
        return True
    if _FALSE.match(value):
        return False
    if _INT.match(value):
        return int(value)
    if _YAML11_RADIX.match(value):
        problems.append(Problem(doc.file, line, format_path(path), _yaml11_surprise(value) or ""))
        return value
    if _FLOAT.match(value):
        return float(value)
    surprise = _yaml11_surprise(value)
    if surprise:
        problems.append(Problem(doc.file, line, format_path(path), surprise))
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
