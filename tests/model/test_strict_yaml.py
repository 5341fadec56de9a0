"""The strict YAML loader: duplicate keys, YAML 1.1 surprises and line numbers."""

import json
import subprocess
import sys
from typing import Any

import pytest
import yaml

from model import strict_yaml
from model.errors import Problem
from model.patterns import LazyPattern
from model.strict_yaml import load_document
from tests.conftest import ROOT


def test_duplicate_keys_are_an_error_naming_both_lines():
    doc, problems = load_document("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert [str(p) for p in problems] == ["f.yaml:3: a: duplicate key (first defined on line 1)"]
    assert doc is not None and doc.data["a"] == 1


def test_duplicate_keys_in_nested_mappings_are_found_too():
    _, problems = load_document("alerts:\n  - id: x\n    for: 5m\n    for: 10m\n", "f.yaml")
    assert [(p.line, p.path) for p in problems] == [(4, "alerts[0].for")]


@pytest.mark.parametrize(
    ("scalar", "words"),
    [
        ("no", "boolean"),
        ("Yes", "boolean"),
        ("on", "boolean"),
        ("OFF", "boolean"),
        ("8:30", "base-60"),
        ("0755", "octal"),
        ("0x1F", "octal/hex"),
        ("2026-01-05", "date"),
        ("1_000", "underscores"),
        (".inf", "finite"),
    ],
)
def test_yaml_1_1_surprises_are_reported_not_coerced(scalar, words):
    doc, problems = load_document(f"key: {scalar}\n", "f.yaml")
    assert len(problems) == 1
    assert problems[0].line == 1 and problems[0].path == "key"
    assert words in problems[0].message
    assert doc.data["key"] == scalar  # kept as the text written, never silently converted


@pytest.mark.parametrize("scalar", ['"no"', "'8:30'", '"0755"', '"2026-01-05"'])
def test_quoted_scalars_are_plain_text(scalar):
    doc, problems = load_document(f"key: {scalar}\n", "f.yaml")
    assert problems == []
    assert doc.data["key"] == scalar.strip("'\"")


def test_unambiguous_scalars_get_their_yaml_1_2_types():
    doc, problems = load_document("a: true\nb: 12\nc: 0.05\nd: ~\ne: text\nf: -3\ng: 1e3\n", "f.yaml")
    assert problems == []
    assert doc.data == {"a": True, "b": 12, "c": 0.05, "d": None, "e": "text", "f": -3, "g": 1000.0}


def test_merge_keys_are_rejected():
    _, problems = load_document("base: &b {x: 1}\nother:\n  <<: *b\n", "f.yaml")
    assert any("merge keys" in p.message and p.line == 3 for p in problems)


def test_syntax_errors_carry_the_line():
    doc, problems = load_document("a: 1\nb: [1, 2\nc: 3\n", "f.yaml")
    assert doc is None
    assert problems[0].file == "f.yaml" and problems[0].line >= 2 and "not valid YAML" in problems[0].message


def test_every_path_knows_its_line():
    doc, _ = load_document("alerts:\n  - id: a\n    threshold: 5\n  - id: b\n", "f.yaml")
    assert doc.line_of(("alerts", 0, "threshold")) == 3
    assert doc.line_of(("alerts", 1, "id")) == 4
    assert doc.line_of(("alerts", 1, "missing")) == 4


def test_without_libyaml_the_pure_python_parser_gives_the_same_answers():
    # PyYAML built without libyaml (no wheel for the platform) falls back to its pure-Python parser.
    script = (
        "import json, yaml\n"
        "yaml.__with_libyaml__ = False\n"
        "from model.strict_yaml import _EventReader, load_document\n"
        "assert yaml.cyaml.CParser not in _EventReader.__mro__\n"
        "texts = ['a: 1\\nb: [x, z]\\n', 'a: &x 1\\nb: *x\\n', 'a: \"abc\\nb: 1\\n', 'a: ' + '[' * 40 + ']' * 40]\n"
        "for text in texts:\n"
        "    doc, problems = load_document(text, 'f')\n"
        "    print(json.dumps([doc.data if doc else None, [[p.line, p.path, p.message] for p in problems]]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [data for data, _ in answers] == [{"a": 1, "b": ["x", "z"]}, {"a": 1, "b": None}, None, None]
    located = [[(line, path) for line, path, _ in problems] for _, problems in answers]
    assert located == [[], [(2, "b")], [(1, "")], [(1, "")]]
    messages = [problems[0][2] for _, problems in answers[1:]]
    assert "aliases (*x) are not supported" in messages[0]
    assert "a quoted string starts here and is never closed" in messages[1]
    assert "nested deeper than 32 levels" in messages[2]


def test_a_plain_scalar_starting_with_a_character_no_pattern_can_match_at_is_text_for_every_pattern():
    # The loader skips its eleven scalar patterns for a scalar whose first character is outside
    # _MAY_NOT_BE_TEXT: that is only right if no pattern can match a text starting with such a character.
    patterns = [value for value in vars(strict_yaml).values() if isinstance(value, LazyPattern)]
    assert len(patterns) >= 11
    endings = ["", "\n", "1", "0:30", "rue", "alse", "ull", "es", "ff", "n", "_1", "-01-01", "inf", "x0F", "e3", "7"]
    starts = [chr(code) for code in range(0x300)] + ["\u0663", "\uff11", "\uff54", "\u2028"]
    matched = [
        (start + ending, p.pattern)
        for start in starts if start not in strict_yaml._MAY_NOT_BE_TEXT
        for ending in endings
        for p in patterns if p.match(start + ending)
    ]
    assert matched == []
    # ...and the set is not wider than needed to be right: each of its characters starts a typed scalar.
    assert all(any(p.match(start + ending) for p in patterns for ending in endings)
               for start in strict_yaml._MAY_NOT_BE_TEXT)


@pytest.mark.parametrize("scalar", ["critical", "https://x.example/a", "Null", "TRUE", "7", "+1", "-.5", "~", "off"])
def test_text_and_typed_scalars_read_the_same_either_side_of_the_first_character_shortcut(scalar):
    doc, problems = load_document(f"key: {scalar}\n", "f.yaml")
    # What the full resolution gives, by the patterns alone (no shortcut): the reference for each scalar.
    typed = {"Null": None, "TRUE": True, "7": 7, "+1": 1, "-.5": -0.5, "~": None}
    assert doc.data["key"] == typed.get(scalar, scalar)
    assert bool(problems) == (scalar == "off")


# --- the one-pass builder against PyYAML's own composer -------------------------------------------------------

class _StockComposer(yaml.composer.Composer, yaml.resolver.BaseResolver, yaml.cyaml.CParser):
    """PyYAML's composer, no implicit types: the node tree the builder no longer makes, as the oracle's input."""

    yaml_implicit_resolvers: dict = {}  # noqa: RUF012 - a class attribute PyYAML reads by design

    def __init__(self, stream: str) -> None:
        yaml.cyaml.CParser.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.resolver.BaseResolver.__init__(self)


def _oracle(text: str, file: str) -> tuple[Any, dict, list[tuple[int, str, str]]]:
    """What the loader must answer for an alias-free text within the limits, read from PyYAML's node tree:
    every value at its path and line, keys as written, and each key that is not plain text, each merge key and
    each repeated key reported at its own line with the value after it left out."""
    loader = _StockComposer(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    lines: dict = {}
    problems: list[Problem] = []

    def walk(node: Any, path: tuple) -> Any:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    problems.append(Problem(file, line, strict_yaml.format_path(path), "keys must be plain text"))
                elif key_node.value == "<<":
                    problems.append(Problem(file, line, strict_yaml.format_path(path), "merge keys (<<) are not "
                                            "supported: write the keys out"))
                elif key_node.value in result:
                    child = (*path, key_node.value)
                    problems.append(Problem(file, line, strict_yaml.format_path(child),
                                            f"duplicate key (first defined on line {lines[child]})"))
                else:
                    lines[(*path, key_node.value)] = line
                    result[key_node.value] = walk(value_node, (*path, key_node.value))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [walk(child, (*path, i)) for i, child in enumerate(node.value)]
        line = node.start_mark.line + 1
        if node.tag != strict_yaml._STR_TAG:
            problems.append(Problem(file, line, strict_yaml.format_path(path),
                                    f"explicit YAML tags ({node.tag}) are not supported"))
            return node.value
        if node.style in strict_yaml._QUOTED_STYLES:
            return node.value
        return strict_yaml._plain_scalar(node.value, path, line, file, problems)

    data = walk(node, ())
    return data, lines, [(p.line, p.path, p.message) for p in problems]


_TRICKY = [
    "a: 1\nb: [x, {c: true, d: ~}]\n",
    "a: 1\na: 2\nb: {a: [1, !!int 2], a: 3}\n",
    "a: {x: !!bool yes}\na: {y: !!int 7}\n",  # the repeated key's value holds a tag: not read, not reported
    "<<: {a: 1}\nb: 2\n<<: {c: !custom 3}\n",
    "? [a, b]\n: 1\n? {k: v}\n: !!float 2\nplain: text\n",
    "!!map {a: 1}\n",
    "- !!str 123\n- !!str yes\n- ! 5\n- !local x\n- 'quoted'\n- \"0x1F\"\n- |\n  block\n- >\n  folded\n",
    "k: 08:30\nm: 0755\nn: 1_000\no: 2026-01-05\np: .inf\nq: 1e999\nr: 12345678901234567890\ns: -0\n",
    "x:\n  - a\n  -\n    - b\n    - {c: d}\n  - ''\n  -\n",
    "---\nonly: one\n...\n",
    "---\n",
    "# just a comment\nkey: value # trailing\n",
    "1: one\ntrue: yes\nnull: ~\n'quoted key': v\n\"k2\": v\n",
]


def _yaml_texts() -> list[tuple[str, str]]:
    found = [(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
             for pattern in ("alert_policies/**/*.yaml", "tests/**/*.yaml", "Pulumi*.yaml")
             for path in sorted(ROOT.glob(pattern))]
    return found + [(f"tricky[{i}]", text) for i, text in enumerate(_TRICKY)]


YAML_TEXTS = _yaml_texts()


@pytest.mark.parametrize(("name", "text"), YAML_TEXTS, ids=[name for name, _ in YAML_TEXTS])
def test_the_one_pass_builder_reads_what_pyyamls_node_tree_holds(name: str, text: str):
    doc, problems = load_document(text, name)
    assert doc is not None
    assert (doc.data, doc.lines, [(p.line, p.path, p.message) for p in problems]) == _oracle(text, name)


def test_the_corpus_holds_real_files_and_every_kind_of_reported_key():
    assert sum(1 for name, _ in YAML_TEXTS if name.startswith("alert_policies/")) >= 4
    # The oracle needs texts PyYAML composes as the loader reads them: parsable, and without aliases, which
    # PyYAML's composer expands and the loader refuses (those have their own tests below).
    events = [event for _, text in YAML_TEXTS for event in yaml.parse(text, Loader=yaml.CSafeLoader)]
    assert not any(isinstance(event, yaml.AliasEvent) for event in events)
    messages = {p.message.split(" (")[0] for _, text in YAML_TEXTS for p in load_document(text, "f")[1]}
    assert {"keys must be plain text", "duplicate key", "merge keys"} <= messages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &x 1\nb: *x\n", ({"a": 1, "b": None}, [(2, "b")])),
        ("a: &x 1\n*x : 2\nc: 3\n", ({"a": 1, "c": 3}, [(2, "")])),  # an alias as a key: not plain text
        ("l:\n  - &x {k: v}\n  - *x\n", ({"l": [{"k": "v"}, None]}, [(3, "l[1]")])),
        ("a: &x 1\na: *x\n", ({"a": 1}, [(2, "a")])),  # the repeated key's alias is not read: one problem
        ("a: *undefined\n", ({"a": None}, [(1, "a")])),
    ],
)
def test_an_alias_is_reported_where_it_is_written_and_read_as_nothing(text: str, expected: tuple):
    doc, problems = load_document(text, "f.yaml")
    assert doc is not None
    assert (doc.data, [(p.line, p.path) for p in problems]) == expected


def test_a_repeated_anchor_refuses_the_file_where_it_is_set_again():
    doc, problems = load_document("a: &x 1\nb: &x 2\n", "f.yaml")
    assert doc is None
    assert [(p.line, p.message) for p in problems] == [
        (2, "not valid YAML: the anchor &x is set again (first on line 1)")
    ]


def test_a_second_document_refuses_the_file_where_it_starts():
    doc, problems = load_document("a: 1\n---\nb: 2\n", "f.yaml")
    assert doc is None
    assert [(p.line, p.message) for p in problems] == [
        (2, "not valid YAML: a second document starts here: a file holds one")
    ]
