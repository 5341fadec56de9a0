"""The policy validators use the schemas with their local $refs inlined: same verdicts, no reference lookups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from model.schema_check import SCHEMA_DIR, _Validator, _with_refs_inlined, format_checker, validator

ROOT = Path(__file__).resolve().parents[2]
POLICY_FILES = sorted([*ROOT.glob("alert_policies/**/*.yaml"), *ROOT.glob("tests/estates/*/alert_policies/**/*.yaml")])


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for key, value in node.items() if key != "$defs" for r in _refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def _every_string_a_number(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _every_string_a_number(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_every_string_a_number(item) for item in node]
    return 7 if isinstance(node, str) and node not in ("estate", "oncall", "app", "overlay") else node


def _an_unknown_key_everywhere(node: Any) -> Any:
    if isinstance(node, dict):
        return {**{key: _an_unknown_key_everywhere(value) for key, value in node.items()}, "colour": "teal"}
    if isinstance(node, list):
        return [_an_unknown_key_everywhere(item) for item in node]
    return node


def _verdict(checker: Any, instance: Any) -> list[tuple[tuple[Any, ...], str, str]]:
    return sorted((tuple(e.absolute_path), e.validator, e.message) for e in checker.iter_errors(instance))


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.schema.json")), ids=lambda p: p.name)
def test_no_local_reference_is_left_in_a_shipped_schema_once_inlined(path: Path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert _refs(schema), "the schema has references to inline"
    assert _refs(_with_refs_inlined(schema)) == []


def test_a_recursive_reference_is_left_as_a_reference():
    schema = {"$defs": {"tree": {"type": "object", "properties": {"children": {"items": {"$ref": "#/$defs/tree"}}}}},
              "properties": {"root": {"$ref": "#/$defs/tree"}}}
    inlined = _with_refs_inlined(schema)
    assert inlined["properties"]["root"]["properties"]["children"]["items"] == {"$ref": "#/$defs/tree"}
    instance = {"root": {"children": [{"children": [3]}]}}
    assert _verdict(_Validator(inlined), instance) == _verdict(_Validator(schema), instance) != []


def test_a_reference_with_sibling_keywords_keeps_them_beside_the_inlined_definition():
    schema = {"$defs": {"id": {"type": "string", "pattern": "^[a-z]+$"}},
              "properties": {"team": {"$ref": "#/$defs/id", "description": "the owning team"}}}
    assert _with_refs_inlined(schema)["properties"]["team"] == {
        "description": "the owning team", "allOf": [{"type": "string", "pattern": "^[a-z]+$"}]}


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_policy_file_gets_the_same_verdict_from_the_inlined_schema_as_from_the_referencing_one(path: Path):
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    kind = document["kind"]
    referencing = _Validator(json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8")),
                             format_checker=format_checker())
    for instance in (document, _every_string_a_number(document), _an_unknown_key_everywhere(document)):
        verdict = _verdict(validator(kind), instance)
        assert verdict == _verdict(referencing, instance)
    assert _verdict(validator(kind), _every_string_a_number(document)), "the broken copy has problems to compare"
