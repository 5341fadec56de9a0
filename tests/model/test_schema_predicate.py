"""The compiled schema predicate says "valid" exactly when jsonschema (our _Validator) reports no error."""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from model import schema_check, schema_predicate
from model.schema_check import SCHEMA_DIR, _Validator, format_checker, predicate, schema_problems, validator
from model.schema_predicate import SUPPORTED_KEYWORDS, UnsupportedSchema, compile_predicate
from model.strict_yaml import Document, load_document
from tests.estates import ESTATES, copy_estate
from tests.model.test_schema_refs_inlined import _an_unknown_key_everywhere, _every_string_a_number

ROOT = Path(__file__).resolve().parents[2]
KINDS = tuple(path.name.removesuffix(".schema.json") for path in sorted(SCHEMA_DIR.glob("*.schema.json")))
POLICY_FILES = sorted({
    path
    for estate in ESTATES.values()
    for path in (estate / "alert_policies").rglob("*.yaml")
})
BAD_FIXTURES = sorted((ROOT / "tests/fixtures/bad_policies").glob("*.yaml"))
# Broken copies per policy file; PREDICATE_MUTANTS=20000 for a deeper search than the suite's.
MUTANTS_PER_FILE = int(os.environ.get("PREDICATE_MUTANTS", "400"))


def _data(path: Path) -> Any:
    """The document as the loader sees it (strict YAML: no implicit dates or octal numbers)."""
    doc, _ = load_document(path.read_text(encoding="utf-8"), path.name)
    assert doc is not None, path
    return doc.data


def _jsonschema_accepts(kind: str, instance: Any) -> bool:
    return next(iter(validator(kind).iter_errors(instance)), None) is None


def _first_error_keyword(kind: str, instance: Any) -> str | None:
    error = next(iter(validator(kind).iter_errors(instance)), None)
    return None if error is None else str(error.validator)


# --- a seeded mutator: one to three small breakages of a valid document -------------------------------------


def _schema_values(node: Any, found: list[Any]) -> list[Any]:
    """Every const, enum member and bound in a schema, and each bound's neighbours: values that flip branches."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "const":
                found.append(value)
            elif key == "enum":
                found += value
            elif key in ("minimum", "maximum", "exclusiveMinimum", "minLength", "maxLength", "minItems", "maxItems"):
                found += [value, value - 1, value + 1, value - 0.5, value + 0.5, float(value)]
            else:
                _schema_values(value, found)
    elif isinstance(node, list):
        for item in node:
            _schema_values(item, found)
    return found


def _property_names(node: Any, found: list[str]) -> list[str]:
    """Every property name a schema declares anywhere."""
    if isinstance(node, dict):
        found += [name for name in node.get("properties", {}) if isinstance(node["properties"], dict)]
        for value in node.values():
            _property_names(value, found)
    elif isinstance(node, list):
        for item in node:
            _property_names(item, found)
    return found


def _places(node: Any, path: tuple = ()) -> list[tuple]:
    """The path of every value in a document (the root included)."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _places(value, (*path, index))
    return found


def _at(doc: Any, path: tuple) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _replace(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _at(doc, path[:-1])[path[-1]] = value
    return doc


def _other_type(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool):
        return rng.choice([int(value), float(value), str(value).lower(), None])
    if isinstance(value, int | float):
        return rng.choice([value is not None and bool(value), str(value), float(value), int(value), [value]])
    if isinstance(value, str):
        return rng.choice([7, 7.0, True, [value], {value: value}, value.upper()])
    if isinstance(value, list):
        return rng.choice([{}, value[0] if value else "", "x", 0])
    if isinstance(value, dict):
        return rng.choice([list(value.values()), list(value), "x", 0])
    return rng.choice(["", 0, False, []])


def _bool_int_swapped(value: Any) -> Any:
    """true <-> 1, false <-> 0 (and other numbers to the bool they are truthy as): equal in Python, not in JSON."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value != 0
    return value


def _mutate_once(doc: Any, rng: random.Random, schema_values: list[Any], names: list[str], donors: list[Any]) -> Any:
    path = rng.choice(_places(doc))
    value = _at(doc, path)
    move = rng.randrange(13)
    if move == 0 and isinstance(value, dict) and value:
        del value[rng.choice(list(value))]
    elif move == 1 and isinstance(value, dict):
        value[rng.choice(["colour", "Id", "kind", "unit", "x-extra"])] = rng.choice(["teal", 1, None])
    elif move == 2:
        doc = _replace(doc, path, _other_type(value, rng))
    elif move == 3:
        doc = _replace(doc, path, _bool_int_swapped(value))
    elif move == 4 and isinstance(value, int | float) and not isinstance(value, bool):
        doc = _replace(doc, path, float(value) if isinstance(value, int) else round(value))
    elif move == 5:
        doc = _replace(doc, path, rng.choice(["", [], {}, None, 0]))
    elif move == 6 and isinstance(value, list):
        extra = rng.choice([*(copy.deepcopy(value[:1]) or [1]), 1, 1.0, True, "x"])
        value.insert(rng.randrange(len(value) + 1), extra)
        if rng.random() < 0.5 and value:
            value.append(copy.deepcopy(rng.choice(value)))
    elif move == 7 and isinstance(value, str):
        tail = rng.choice(["\n", " ", "\n\n", "é", "$", "x" * rng.choice([40, 60, 90, 190, 490, 600])])
        doc = _replace(doc, path, value + tail)
    elif move == 8 and schema_values:
        doc = _replace(doc, path, copy.deepcopy(rng.choice(schema_values)))
    elif move == 9 and isinstance(value, int | float) and not isinstance(value, bool):
        doc = _replace(doc, path, value + rng.choice([-1, 1, -0.5, 0.5, -value, 10**9]))
    elif move == 11 and isinstance(value, dict) and names:
        # A key the schema knows, maybe not here, holding a value from elsewhere or a mapping of known keys.
        known = {rng.choice(names): copy.deepcopy(rng.choice(donors)) for _ in range(rng.randrange(3))}
        value[rng.choice(names)] = rng.choice([copy.deepcopy(rng.choice(donors)), known])
    elif move == 10 and donors:
        doc = _replace(doc, path, copy.deepcopy(rng.choice(donors)))  # a value from elsewhere in the document
    else:
        doc = _replace(doc, path, None)
    return doc


def _mutants(doc: Any, kind: str, count: int, seed: str) -> list[Any]:
    rng = random.Random(seed)
    schema = json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text())
    schema_values = _schema_values(schema, [])
    names = sorted(set(_property_names(schema, [])))
    donors = [_at(doc, path) for path in _places(doc)]
    mutants = [_every_string_a_number(doc), _an_unknown_key_everywhere(doc)]
    while len(mutants) < count:
        mutant = copy.deepcopy(doc)
        for _ in range(rng.choice([1, 1, 2, 3])):
            mutant = _mutate_once(mutant, rng, schema_values, names, donors)
        mutants.append(mutant)
    return mutants


# --- equivalence on real documents ----------------------------------------------------------------------------


def test_every_shipped_schema_compiles():
    assert KINDS, "no schemas found"
    for kind in KINDS:
        assert predicate(kind) is not None, kind
        # Eagerly, both as written (what the plan's predicate compiles) and inlined (what jsonschema reads):
        # raises UnsupportedSchema on a keyword it lacks.
        compile_predicate(schema_check._schema_as_written(kind))
        compile_predicate(schema_check._schema(kind))


def test_the_policy_files_cover_every_kind_of_schema():
    assert {_data(path)["kind"] for path in POLICY_FILES} == set(KINDS)


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_policy_file_and_thousands_of_broken_copies_get_the_verdict_jsonschema_gives(path: Path):
    doc = _data(path)
    kind = doc["kind"]
    check = predicate(kind)
    assert check(doc) and _jsonschema_accepts(kind, doc), "the shipped file is valid"
    rejected: Counter[str] = Counter()
    accepted = 0
    for mutant in _mutants(doc, kind, MUTANTS_PER_FILE, seed=str(path.relative_to(ROOT))):
        keyword = _first_error_keyword(kind, mutant)
        assert check(mutant) == (keyword is None), json.dumps(mutant, default=repr)[:2000]
        if keyword is None:
            accepted += 1
        else:
            rejected[keyword] += 1
    print(f"{path.relative_to(ROOT)}: {sum(rejected.values())} mutants rejected {dict(rejected)}, {accepted} accepted")
    # Not vacuous: most copies are broken, in several different ways.
    assert sum(rejected.values()) >= MUTANTS_PER_FILE // 2
    assert len(rejected) >= 4, rejected


def test_the_mutants_of_all_policy_files_break_nearly_every_keyword_jsonschema_checks():
    broken: set[str] = set()
    for path in POLICY_FILES:
        doc = _data(path)
        for mutant in _mutants(doc, doc["kind"], MUTANTS_PER_FILE, seed=str(path.relative_to(ROOT))):
            keyword = _first_error_keyword(doc["kind"], mutant)
            if keyword is not None:
                broken.add(keyword)
    # Keywords the shipped documents give the mutator no handle on are in the keyword table below instead.
    assert broken >= {"type", "required", "additionalProperties", "pattern", "enum", "minLength", "minItems",
                      "uniqueItems", "minimum", "oneOf", "const", "format"}, sorted(broken)


@pytest.mark.parametrize("fixture", BAD_FIXTURES, ids=lambda p: p.stem)
def test_every_bad_policy_fixture_gets_the_verdict_jsonschema_gives(fixture: Path):
    doc, _ = load_document(fixture.read_text(encoding="utf-8"), fixture.name)
    if doc is None or not isinstance(doc.data, dict) or doc.data.get("kind") not in KINDS:
        pytest.skip("not a document a schema is applied to (a YAML-level defect)")
    kind = doc.data["kind"]
    assert predicate(kind)(doc.data) == _jsonschema_accepts(kind, doc.data)


# --- a table per keyword --------------------------------------------------------------------------------------

OBJECT = {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False}
ANNOTATED = {"description": "x", "title": "t", "default": 1, "examples": [2], "$comment": "c", "type": "null",
             "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "https://x.example/s"}
KEYWORD_CASES: list[tuple[dict[str, Any], Any]] = [
    ({"type": "integer"}, 1), ({"type": "integer"}, 1.0), ({"type": "integer"}, 1.5), ({"type": "integer"}, True),
    ({"type": "integer"}, "1"), ({"type": "number"}, 2.5), ({"type": "number"}, False), ({"type": "number"}, None),
    ({"type": "string"}, "x"), ({"type": "string"}, 1), ({"type": "boolean"}, False), ({"type": "boolean"}, 0),
    ({"type": "null"}, None), ({"type": "null"}, 0), ({"type": "array"}, []), ({"type": "array"}, {}),
    ({"type": "object"}, {}), ({"type": "object"}, []), ({"type": ["string", "null"]}, None),
    ({"type": ["string", "null"]}, 3), ({"type": "integer"}, float("inf")),
    ({"pattern": "^[a-z]+$"}, "shop"), ({"pattern": "^[a-z]+$"}, "shop\n"), ({"pattern": "^[a-z]+$"}, 5),
    ({"pattern": "[0-9]"}, "a1b"), ({"pattern": "^a\\$$"}, "a$"), ({"pattern": "^a\\$$"}, "a"),
    ({"additionalProperties": False, "properties": {"a": True}}, {"a": 1}),
    ({"additionalProperties": False, "properties": {"a": True}}, {"a": 1, "b": 2}),
    ({"additionalProperties": False}, "not an object"),
    ({"additionalProperties": {"type": "string"}}, {"x": "y"}),
    ({"additionalProperties": {"type": "string"}}, {"x": 1}),
    ({"additionalProperties": True}, {"x": 1}),
    ({"properties": {"a": {"type": "string"}}}, {"a": "x"}), ({"properties": {"a": {"type": "string"}}}, {"a": 1}),
    ({"properties": {"a": {"type": "string"}}}, {"b": 1}), ({"properties": {"a": False}}, {"a": None}),
    ({"properties": {"a": False}}, [1]),
    ({"required": ["a", "b"]}, {"a": 1, "b": 2}), ({"required": ["a", "b"]}, {"a": 1}), ({"required": ["a"]}, ["a"]),
    ({"items": {"type": "integer"}}, [1, 2.0]), ({"items": {"type": "integer"}}, [1, "2"]),
    ({"items": {"type": "integer"}}, "12"), ({"items": False}, []), ({"items": False}, [1]),
    ({"prefixItems": [{"type": "number"}, {"type": "string"}]}, [1, "a", None]),
    ({"prefixItems": [{"type": "number"}, {"type": "string"}]}, ["a", 1]),
    ({"prefixItems": [{"type": "number"}], "items": False}, [1]),
    ({"prefixItems": [{"type": "number"}], "items": False}, [1, 2]),
    ({"prefixItems": [{"type": "number"}], "items": {"type": "string"}}, [1, "a", "b"]),
    ({"prefixItems": [{"type": "number"}], "items": {"type": "string"}}, [1, "a", 2]),
    ({"prefixItems": [{"type": "number"}], "items": {"type": "string"}}, ["a"]),
    ({"minItems": 2}, [1, 2]), ({"minItems": 2}, [1]), ({"minItems": 2}, "a"),
    ({"maxItems": 1}, [1]), ({"maxItems": 1}, [1, 2]), ({"maxItems": 1}, {"a": 1, "b": 2}),
    ({"minLength": 2}, "ab"), ({"minLength": 2}, "a"), ({"minLength": 2}, "é"), ({"minLength": 2}, 1),
    ({"minLength": 2}, "😀"), ({"maxLength": 1}, "😀"), ({"maxLength": 1}, "ab"), ({"maxLength": 1}, ["a", "b"]),
    ({"uniqueItems": True}, [1, 2]), ({"uniqueItems": True}, [1, 1.0]), ({"uniqueItems": True}, [True, 1]),
    ({"uniqueItems": True}, [{"a": 1}, {"a": 1.0}]), ({"uniqueItems": True}, [[1], [True]]),
    ({"uniqueItems": True}, [0, False]), ({"uniqueItems": False}, [1, 1]), ({"uniqueItems": True}, "aa"),
    ({"enum": ["a", "b"]}, "a"), ({"enum": ["a", "b"]}, "c"), ({"enum": ["a", "b"]}, ["a"]),
    ({"enum": [1, "a"]}, 1.0), ({"enum": [1, "a"]}, True), ({"enum": [[1, {"x": 2}]]}, [1.0, {"x": 2.0}]),
    ({"enum": [[1]]}, [True]), ({"enum": [False]}, 0), ({"enum": [None]}, None), ({"enum": [0]}, False),
    ({"const": "a"}, "a"), ({"const": "a"}, "b"), ({"const": 1}, 1.0), ({"const": 1}, True),
    ({"const": False}, False), ({"const": {"a": [1]}}, {"a": [1.0]}), ({"const": {"a": [1]}}, {"a": [1], "b": 2}),
    ({"const": True}, 1),
    ({"allOf": [{"type": "string"}, {"minLength": 2}]}, "ab"), ({"allOf": [{"type": "string"}, {"minLength": 2}]}, "a"),
    ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, 1), ({"oneOf": [{"type": "string"}, {"type": "integer"}]},
                                                                   None),
    ({"oneOf": [{"type": "number"}, {"type": "integer"}]}, 1), ({"oneOf": [{"type": "number"}, {"type": "integer"}]},
                                                                   1.5),
    ({"not": {"required": ["x"]}}, {"y": 1}), ({"not": {"required": ["x"]}}, {"x": 1}), ({"not": {}}, 1),
    ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {"a": 1}),
    ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {"a": 1, "b": 1}),
    ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {"c": 1}),
    ({"if": {"required": ["a"]}, "else": {"required": ["b"]}}, {"c": 1}),
    ({"if": {"required": ["a"]}, "else": {"required": ["b"]}}, {"b": 1}),
    ({"if": {"required": ["a"]}, "then": {"required": ["b"]}, "else": False}, {"c": 1}),
    ({"then": False}, 1), ({"else": False}, 1),
    ({"minimum": 1}, 1), ({"minimum": 1}, 0.999), ({"minimum": 1}, "0"), ({"minimum": 1}, False),
    ({"minimum": 1}, float("nan")), ({"maximum": 5}, 5.0), ({"maximum": 5}, 6), ({"maximum": 5}, [9]),
    ({"exclusiveMinimum": 0}, 0), ({"exclusiveMinimum": 0}, 0.001), ({"exclusiveMinimum": 0}, -1),
    ({"exclusiveMinimum": 0}, "-1"),
    ({"minProperties": 1}, {"a": 1}), ({"minProperties": 1}, {}), ({"minProperties": 1}, []),
    ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"ab": 1}), ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"a-b": 1}),
    ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"ab\n": 1}), ({"propertyNames": False}, {}),
    ({"propertyNames": False}, {"a": 1}), ({"propertyNames": {"maxLength": 1}}, ["long"]),
    ({"format": "email"}, "ops@example.com"), ({"format": "email"}, "not an address"), ({"format": "email"}, 5),
    ({"format": "email"}, "Ops.Team+x@Example.COM"), ({"format": "email"}, "a@b"), ({"format": "email"}, ""),
    ({"format": "uri"}, "https://example.com/health"), ({"format": "uri"}, "example.com"), ({"format": "uri"}, None),
    ({"format": "uri"}, "ftp://example.com"), ({"format": "uri"}, "http://[::1"), ({"format": "uri"}, ""),
    ({"description": "x", "title": "t", "default": 1, "examples": [2], "$comment": "c"}, None),
    (ANNOTATED, None), (ANNOTATED, 0),
    ({"$id": "https://x.example/s", "type": "null"}, 0),
    ({"$defs": {"n": {"type": "null"}}, "$ref": "#/$defs/n"}, None),
    ({"$defs": {"n": {"type": "null"}}, "$ref": "#/$defs/n"}, 0),
    ({"$defs": {"tree": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/$defs/tree"}}}}},
      "$ref": "#/$defs/tree"}, {"kids": [{"kids": []}, {"kids": [{}]}]}),
    ({"$defs": {"tree": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/$defs/tree"}}}}},
      "$ref": "#/$defs/tree"}, {"kids": [{"kids": [3]}]}),
    (OBJECT, {"a": 1}), (OBJECT, {"a": 1.0}), (OBJECT, {"a": True}), (OBJECT, {"a": 1, "b": 1}),
]
BOOLEAN_CASES = [(True, 1), (True, None), (False, 1), (False, {})]


def _reference_accepts(schema: Any, instance: Any) -> bool:
    return _Validator(schema, format_checker=format_checker()).is_valid(instance)


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize(("schema", "instance"), KEYWORD_CASES + BOOLEAN_CASES, ids=repr)
def test_each_keyword_gives_the_verdict_jsonschema_gives(schema: Any, instance: Any, lazy: bool):
    # Lazy or not, and whether the properties were compiled by an earlier instance or are compiled now.
    check = compile_predicate(schema, lazy=lazy)
    assert check(instance) == _reference_accepts(schema, instance)
    assert check(instance) == _reference_accepts(schema, instance)


def test_a_lazy_predicate_compiles_a_property_only_when_an_instance_first_holds_it(monkeypatch: pytest.MonkeyPatch):
    compiled: list[Any] = []
    real_compile = schema_predicate._Compiler.compile

    def noting(self: Any, schema: Any, root: bool = False) -> Any:
        compiled.append(schema)
        return real_compile(self, schema, root)

    monkeypatch.setattr(schema_predicate._Compiler, "compile", noting)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string", "minLength": 2}}}
    check = compile_predicate(schema, lazy=True)
    assert {"type": "integer"} not in compiled and schema["properties"]["b"] not in compiled
    assert check({"a": 1})
    assert {"type": "integer"} in compiled and schema["properties"]["b"] not in compiled
    assert not check({"a": 1, "b": "x"}) and check({"b": "xy"})
    assert compiled.count(schema["properties"]["b"]) == 1


def test_the_keyword_table_has_a_valid_and_an_invalid_case_for_every_supported_keyword():
    verdicts: dict[str, set[bool]] = {}
    for schema, instance in KEYWORD_CASES:
        for keyword in schema:
            verdicts.setdefault(keyword, set()).add(_reference_accepts(schema, instance))
    verdicts["<boolean schema>"] = {_reference_accepts(schema, instance) for schema, instance in BOOLEAN_CASES}
    assert set(verdicts) >= SUPPORTED_KEYWORDS
    assert {keyword for keyword, seen in verdicts.items() if seen != {True, False}} == set()


def test_a_schema_whose_keywords_all_compile_but_the_format_does_not_is_refused():
    with pytest.raises(UnsupportedSchema, match="date"):
        compile_predicate({"properties": {"when": {"type": "string", "format": "date"}}})


def test_a_reference_outside_the_schemas_definitions_is_refused():
    with pytest.raises(UnsupportedSchema, match=r"other\.json"):
        compile_predicate({"properties": {"a": {"$ref": "other.json#/x"}}})


# --- an unknown keyword: jsonschema validates that kind, as before ------------------------------------------


def test_an_unknown_keyword_raises_and_schema_problems_still_reports_jsonschemas_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    schema = {"type": "object", "properties": {"kind": {"const": "probe"}, "every": {"type": "integer",
              "multipleOf": 5}}, "additionalProperties": False}
    with pytest.raises(UnsupportedSchema, match="multipleOf"):
        compile_predicate(schema)
    (tmp_path / "probe.schema.json").write_text(json.dumps(schema))
    monkeypatch.setattr(schema_check, "SCHEMA_DIR", tmp_path)
    schema_caches = (
        schema_check._schema_as_written, schema_check._schema, schema_check.predicate, schema_check.validator
    )
    for cached in schema_caches:
        cached.cache_clear()
    try:
        # The keyword is inside a property, which the plan's predicate compiles when a document first holds it.
        with pytest.raises(UnsupportedSchema, match="multipleOf"):
            predicate("probe")({"kind": "probe", "every": 7})
        doc, _ = load_document("kind: probe\nevery: 7\n", "probe.yaml")
        assert isinstance(doc, Document)
        problems = schema_problems(doc, "probe")
        assert [(p.line, p.path, p.message) for _, p in problems] == [(2, "every", "7 is not a multiple of 5")]
        doc, _ = load_document("kind: probe\nevery: 10\n", "probe.yaml")
        assert schema_problems(doc, "probe") == []
    finally:
        for cached in schema_caches:
            cached.cache_clear()


# --- jsonschema is imported only for an invalid document -------------------------------------------------------

_LOAD_AND_REPORT = """
import sys
from pathlib import Path
from model.errors import PolicyError
from model.inputs import load_inputs
try:
    load_inputs(Path(sys.argv[1]), stack=sys.argv[2] if len(sys.argv) > 2 else None)
    print("valid")
except PolicyError as err:
    print("\\n".join(str(p) for p in err.problems))
print("jsonschema imported" if "jsonschema" in sys.modules else "jsonschema not imported")
"""


def _load_in_a_fresh_process(root: Path, *stack: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_REPORT, str(root), *stack],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return result.stdout.splitlines()


@pytest.mark.parametrize("name", sorted(ESTATES))
def test_loading_a_valid_estate_does_not_import_jsonschema(name: str):
    assert _load_in_a_fresh_process(ESTATES[name]) == ["valid", "jsonschema not imported"]


def test_loading_the_shipped_estate_with_its_stack_overlay_does_not_import_jsonschema():
    overlays = sorted((ROOT / "alert_policies/stacks").glob("*.yaml"))
    assert overlays, "the shipped estate has a stack overlay"
    for overlay in overlays:
        assert _load_in_a_fresh_process(ROOT, overlay.stem) == ["valid", "jsonschema not imported"]


@pytest.mark.parametrize("name", sorted(ESTATES))
def test_an_invalid_policy_file_imports_jsonschema_and_is_reported_at_its_line(name: str, tmp_path: Path):
    root = copy_estate(name, tmp_path / name)
    oncall = root / "alert_policies/oncall.yaml"
    lines = oncall.read_text(encoding="utf-8").splitlines(keepends=True)
    kind_line = next(i for i, line in enumerate(lines) if line.startswith("kind:"))
    lines.insert(kind_line + 1, "colour: teal\n")
    oncall.write_text("".join(lines), encoding="utf-8")
    output = _load_in_a_fresh_process(root)
    assert output[-1] == "jsonschema imported"
    located = f"alert_policies/oncall.yaml:{kind_line + 2}: colour: unknown key"
    assert any(line.startswith(located) for line in output), output


def test_a_predicate_that_trips_leaves_the_verdict_to_jsonschema(monkeypatch: pytest.MonkeyPatch):
    def tripping(instance: Any) -> bool:
        raise TypeError("something the predicate did not expect")

    kind = KINDS[0]
    monkeypatch.setattr(schema_check, "predicate", lambda _kind: tripping)
    doc, _ = load_document(f"kind: {kind}\ncolour: teal\n", f"{kind}.yaml")
    assert isinstance(doc, Document)
    problems = [p for _, p in schema_problems(doc, kind)]
    assert problems and any(p.path == "colour" and p.line == 2 for p in problems), problems
