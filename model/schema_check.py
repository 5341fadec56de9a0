"""JSON Schema validation of policy documents, with messages a person understands."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.errors import MAX_PROBLEMS_PER_FILE, Problem
from model.schema_predicate import Predicate, UnsupportedSchema, compile_predicate
from model.schema_rules import FORMAT_PROBLEMS, has_duplicates, whole_text_pattern
from model.strict_yaml import Document, format_path

if TYPE_CHECKING:
    from jsonschema import FormatChecker
    from jsonschema.exceptions import ValidationError

# jsonschema (with referencing, rpds and attrs: ~0.09 CPU s to import) is imported only inside the functions
# below, on the path of a document the compiled predicate (model/schema_predicate.py) finds invalid: a valid plan
# never loads it.

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
KINDS = ("estate", "oncall", "app")


@cache
def _schema_as_written(kind: str) -> dict[str, Any]:
    """schemas/<kind>.schema.json as it is, `$ref`s and all."""
    return json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))


@cache
def _schema(kind: str) -> dict[str, Any]:
    """schemas/<kind>.schema.json with its local references inlined (see _with_refs_inlined), for jsonschema."""
    return _with_refs_inlined(_schema_as_written(kind))


@cache
def validator(kind: str) -> Any:
    """The jsonschema validator for one policy file kind (schemas/<kind>.schema.json)."""
    # Checking the schema against the 2020-12 meta-schema costs a tenth of a second per kind on every plan;
    # the schemas only change in commits, so tests/model/test_schemas_are_valid.py checks them instead.
    return _validator_class()(_schema(kind), format_checker=format_checker())


@cache
def predicate(kind: str) -> Predicate | None:
    """The compiled validity test for one kind, or None when its schema uses a keyword the compiler lacks
    (then every document of the kind goes through jsonschema, as before the predicate existed).

    Compiled from the schema as written: the compiler shares one test per `$defs` entry among its references,
    where inlining copies each entry once per use (~5M instructions of every plan, for jsonschema's sake only)."""
    try:
        return compile_predicate(_schema_as_written(kind), lazy=True)
    except UnsupportedSchema:
        return None


def _with_refs_inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with each local `{"$ref": "#/$defs/x"}` replaced by a copy of `x`.

    jsonschema resolves a $ref anew at every use (a registry lookup and a new validator each time): a quarter
    of validating a 50-app estate. Inlined, the same keywords validate the same instance: a $ref with sibling
    keywords becomes those siblings plus `allOf: [x]`, which is what a 2020-12 $ref means; a recursive
    reference is left as it is.
    """
    definitions = schema.get("$defs", {})

    def inline(node: Any, expanding: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [inline(item, expanding) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        name = ref.removeprefix("#/$defs/") if isinstance(ref, str) else None
        if name is None or name == ref or name not in definitions or name in expanding:
            return {key: inline(value, expanding) for key, value in node.items()}
        target = inline(definitions[name], expanding | {name})
        siblings = {key: inline(value, expanding) for key, value in node.items() if key != "$ref"}
        return {**siblings, "allOf": [*siblings.get("allOf", []), target]} if siblings else target

    return inline(schema, frozenset())


def _unique_items(validator: Any, unique: bool, instance: Any, schema: dict) -> Any:
    """uniqueItems in linear time (see schema_rules.has_duplicates)."""
    if unique and validator.is_type(instance, "array") and has_duplicates(instance):
        from jsonschema.exceptions import ValidationError

        yield ValidationError(f"{instance!r} has non-unique elements")


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict) -> Any:
    """JSON Schema's `pattern`, anchored the way the schema's author means it (see whole_text_pattern)."""
    if validator.is_type(instance, "string") and not whole_text_pattern(pattern).search(instance):
        from jsonschema.exceptions import ValidationError

        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _validator_class() -> Any:
    """Draft 2020-12 with our uniqueItems and pattern (built on first use: it imports jsonschema)."""
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {"uniqueItems": _unique_items, "pattern": _pattern})


def __getattr__(name: str) -> Any:
    # `_Validator` stays importable (tests build validators from it) without importing jsonschema at our import.
    if name == "_Validator":
        return _validator_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _raise_if(problem: str | None) -> bool:
    if problem:
        raise ValueError(problem)
    return True


@cache
def format_checker() -> FormatChecker:
    """jsonschema's format checks with real `email` and `uri` ones (schema_rules.FORMAT_PROBLEMS)."""
    from jsonschema import FormatChecker

    checker = FormatChecker()
    for name, problem_of in FORMAT_PROBLEMS.items():
        checker.checks(name, raises=ValueError)(
            lambda value, problem_of=problem_of: not isinstance(value, str) or _raise_if(problem_of(value))
        )
    return checker


# Policy texts (digest, with their kind) this process has found valid. `review diff` reads the working tree's
# policies and then the base's, mostly the same files; tests load the same estates many times. A text without
# problems has none the next time (the schemas are this code's own, read once): only valid ones are remembered,
# so a problem is always reported from a fresh validation, with its file and line.
_VALID_TEXTS: set[tuple[str, bytes]] = set()
_MAX_VALID_TEXTS = 10_000


def _text_key(kind: str, text: str) -> tuple[str, bytes]:
    return kind, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).digest()


def known_valid(kind: str, text: str) -> bool:
    """True when this exact text of this kind already passed its schema in this process."""
    return _text_key(kind, text) in _VALID_TEXTS


def remember_valid(kind: str, text: str) -> None:
    """Note that this text of this kind passed its schema (and parsed without problems)."""
    if len(_VALID_TEXTS) >= _MAX_VALID_TEXTS:
        _VALID_TEXTS.clear()
    _VALID_TEXTS.add(_text_key(kind, text))


def schema_problems(doc: Document, kind: str) -> list[tuple[tuple[str | int, ...], Problem]]:
    """Every schema violation in `doc` with its raw path, each located at the deepest path it concerns.

    Past MAX_PROBLEMS_PER_FILE violations the search stops (the file is then checked no further: see load.py).
    """
    check = predicate(kind)
    try:
        if check is not None and check(doc.data):
            return []
    except Exception:  # noqa: S110 - whatever the predicate tripped on, jsonschema gives its own answer below
        pass
    problems = []
    for error in validator(kind).iter_errors(doc.data):
        for path, message in _explain_all(error):
            problems.append((path, Problem(doc.file, doc.line_of(path), format_path(path), message)))
        if len(problems) > MAX_PROBLEMS_PER_FILE:
            break
    return problems


def _explain_all(error: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    """One (path, message) per problem in the error: jsonschema reports all unknown keys of a mapping as one."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return [((*error.absolute_path, key), f"unknown key{_suggestion(key, allowed)}") for key in extra]
    return [_explain(error)]


def _suggestion(key: str, allowed: list[str]) -> str:
    import difflib  # here: only an invalid document needs a suggestion; a valid plan should not pay for importing it

    hint = difflib.get_close_matches(key, allowed, n=1)
    return f' (did you mean "{hint[0]}"?)' if hint else f" (allowed: {', '.join(allowed)})"


def _got(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


_TYPE_WORDS = {
    "number": "a number",
    "integer": "a whole number",
    "string": "text",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "empty",
}


def _explain(error: ValidationError) -> tuple[tuple[str | int, ...], str]:
    path = tuple(error.absolute_path)
    kind, value = error.validator, error.instance
    if kind == "type":
        types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        wanted = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        return path, f"must be {wanted}, got {_got(value)}"
    if kind == "required":
        missing = str(error.message).split("'")[1]
        return (*path, missing), "is required"
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        key = extra[0] if extra else ""
        return (*path, key), f"unknown key{_suggestion(key, allowed)}"
    if kind in ("enum", "const"):
        options = error.validator_value if kind == "enum" else [error.validator_value]
        return path, f"must be one of {', '.join(_got(o) for o in options)}, got {_got(value)}"
    if kind == "pattern":
        return path, f"{_got(value)} does not have the expected form ({_pattern_hint(error)})"
    if kind == "format":
        why = f": {error.cause}" if error.cause else ""
        return path, f"{_got(value)} is not a valid {error.validator_value}{why}"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "more than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }
        return path, f"must be {words[kind]} {error.validator_value}, got {_got(value)}"
    if kind in ("minItems", "maxItems", "minLength", "maxLength"):
        return path, error.message.replace(repr(value), _got(value)) if isinstance(value, str) else error.message
    if kind == "uniqueItems":
        return path, "has duplicate entries"
    if kind == "oneOf" and isinstance(value, dict) and ("signal" in value or "expr" in value or "summary" in value):
        return path, "needs exactly one of `signal` (from the catalogue) or `expr` (custom PromQL, with `unit`)"
    if kind == "oneOf" and path and path[-1] == "threshold":
        return path, f"must be a number (or [low, high] with condition outside), got {_got(value)}"
    if kind == "oneOf" and len(path) >= 2 and path[-2] == "targets":
        return path, "must be either {schedule: <id>} or {person: <id>}"
    if kind == "oneOf" and path and path[-1] == "rotation":
        return path, f'must be daily, weekly or {{hours: N}}, got {_got(value)}'
    if kind == "not" and isinstance(value, dict) and "config_key" in value:
        return (*path, "config_key"), "is only used with source stack_secret"
    return path, error.message


def _pattern_hint(error: ValidationError) -> str:
    description = error.schema.get("description")
    if description:
        return description
    return f"pattern {error.validator_value}"
