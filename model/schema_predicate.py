"""A policy schema compiled into a fast `instance -> bool`: True exactly when jsonschema would report no error.

jsonschema costs a valid plan ~0.09 CPU s to import (it pulls in referencing, rpds and attrs) and builds an error
iterator, a scope and a child validator at every subschema it visits; most plans validate only valid documents,
for which a yes is all that is needed. The compiler turns each subschema into one closure, once per schema, with
the cheap checks first, and the closure stops at the first failure. Only when it says no does
model/schema_check.py ask jsonschema for the located messages.

The meaning is Draft 2020-12 as jsonschema 4.26 implements it (jsonschema/_keywords.py, _types.py, _utils.py),
with our overrides from model/schema_rules.py: `pattern` with `$` at the end of the text, `uniqueItems` by
canonical JSON, `format` email/uri by model/validators.py. It understands exactly the keywords the shipped
schemas use; any other keyword (or a `format`, type name or `$ref` it does not know) raises UnsupportedSchema when
compiling, never a silent yes. tests/model/test_schema_predicate.py compares it with jsonschema on every shipped
policy file and thousands of broken copies.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from model.schema_rules import FORMAT_PROBLEMS, has_duplicates, whole_text_pattern

Predicate = Callable[[Any], bool]

# Keywords that never change a verdict. `then`/`else` are read by `if` (alone they do nothing, as in jsonschema).
_ANNOTATIONS = frozenset({"description", "title", "default", "examples", "$comment", "$schema", "$defs"})
_READ_WITH_ANOTHER = frozenset({"then", "else"})
SUPPORTED_KEYWORDS = frozenset({
    "type", "pattern", "additionalProperties", "properties", "required", "items", "prefixItems", "minItems",
    "maxItems", "minLength", "maxLength", "uniqueItems", "enum", "const", "allOf", "oneOf", "not", "if",
    "minimum", "maximum", "exclusiveMinimum", "minProperties", "propertyNames", "format", "$ref", "$id",
}) | _ANNOTATIONS | _READ_WITH_ANOTHER


class UnsupportedSchema(ValueError):
    """The schema uses something this compiler does not implement: validate with jsonschema instead."""


def _always(instance: Any) -> bool:
    return True


def _never(instance: Any) -> bool:
    return False


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, bool)


def _is_integer(x: Any) -> bool:
    # jsonschema's draft 4+ "integer": an int that is not a bool, or a float with no fractional part.
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, float) and x.is_integer())


_TYPE_TESTS: dict[str, Predicate] = {
    "string": lambda x: isinstance(x, str),
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "number": _is_number,
    "integer": _is_integer,
}


def equal(one: Any, two: Any) -> bool:
    """JSON Schema equality as jsonschema's `_utils.equal`: 1 == 1.0, true != 1, recursive in lists and mappings."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(equal(i, j) for i, j in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(key in two and equal(value, two[key]) for key, value in one.items())
    if isinstance(one, bool) or isinstance(two, bool):
        return False  # `one is two` was not true, so at most one is that bool (jsonschema's `unbool`)
    return one == two


def compile_predicate(schema: Any, *, lazy: bool = False) -> Predicate:
    """The validity test of a whole schema (its `$defs` are the targets of any `#/$defs/x` left in it).

    `lazy`: each declared property's subschema is compiled when an instance first holds that property, not now.
    A 1-app estate's documents hold a quarter of the ~1,100 subschemas the shipped schemas declare, and compiling
    the rest (their patterns included) was ~20M instructions of every plan. The verdicts are the same; what moves
    is when an unsupported keyword inside a property is found: when a document first holds the property, raising
    UnsupportedSchema from the predicate's call instead of from here (model/schema_check.py then asks jsonschema,
    as it does for any predicate that raises). tests/model/test_schema_predicate.py compiles the shipped schemas
    eagerly, so they hold nothing a lazy predicate could trip on, and gives every verdict in both modes.
    """
    return _Compiler(schema, lazy).compile(schema, root=True)


class _Compiler:
    def __init__(self, root: Any, lazy: bool = False) -> None:
        self._definitions = root.get("$defs", {}) if isinstance(root, dict) else {}
        self._references: dict[str, Predicate] = {}
        self._lazy = lazy

    def compile(self, schema: Any, root: bool = False) -> Predicate:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise UnsupportedSchema(f"a schema must be a mapping or a boolean, got {schema!r}")
        unknown = sorted(set(schema) - SUPPORTED_KEYWORDS)
        if unknown:
            raise UnsupportedSchema(f"keyword(s) {', '.join(unknown)} not compiled")
        if "$id" in schema and not root:
            raise UnsupportedSchema("an $id inside a schema changes what its $refs mean")
        checks = [check for check in self._checks(schema) if check is not _always]
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        return _all_of(checks)

    def _checks(self, schema: dict[str, Any]) -> list[Predicate]:
        """The schema's checks, cheapest first: type, value, size, pattern, then what descends."""
        checks = []
        if "type" in schema:
            checks.append(_type(schema["type"]))
        if "const" in schema:
            checks.append(_const(schema["const"]))
        if "enum" in schema:
            checks.append(_enum(schema["enum"]))
        checks += [_size(keyword, schema[keyword]) for keyword in _SIZES if keyword in schema]
        checks += [_bound(keyword, schema[keyword]) for keyword in _BOUNDS if keyword in schema]
        if "pattern" in schema:
            checks.append(_pattern(schema["pattern"]))
        if "format" in schema:
            checks.append(_format(schema["format"]))
        if schema.get("uniqueItems") is True:
            checks.append(_unique)
        checks.append(self._object(schema))
        checks.append(self._array(schema))
        checks += [self.compile(sub) for sub in _subschemas(schema, "allOf")]
        if "oneOf" in schema:
            checks.append(_one_of([self.compile(sub) for sub in _subschemas(schema, "oneOf")]))
        if "not" in schema:
            checks.append(_not(self.compile(schema["not"])))
        if "if" in schema:
            checks.append(self._if(schema))
        if "$ref" in schema:
            checks.append(self._reference(schema["$ref"]))
        return checks

    def _object(self, schema: dict[str, Any]) -> Predicate:
        """properties, required, additionalProperties, propertyNames and minProperties: for mappings only."""
        declared = schema.get("properties", {})
        # Compiled now, or (lazy) on the first instance holding the property; `declared` keeps the rest.
        properties = {} if self._lazy else {name: self.compile(sub) for name, sub in declared.items()}
        compile_property = self.compile
        required = tuple(schema.get("required", ()))
        additional = self.compile(schema.get("additionalProperties", True))
        names = self.compile(schema.get("propertyNames", True))
        fewest = schema.get("minProperties", 0)
        if not declared and not required and additional is _always and names is _always and not fewest:
            return _always
        # A declared property goes to its own schema; any other to additionalProperties (false: refused).
        closed = additional is _never

        def check(x: Any) -> bool:
            if not isinstance(x, dict):
                return True
            if fewest and len(x) < fewest:
                return False
            for name in required:
                if name not in x:
                    return False
            for name, value in x.items():
                own = properties.get(name)
                if own is None and name in declared:
                    own = properties[name] = compile_property(declared[name])
                if own is not None:
                    if not own(value):
                        return False
                elif closed or not additional(value):
                    return False
            if names is not _always:
                return all(names(name) for name in x)
            return True

        return check

    def _array(self, schema: dict[str, Any]) -> Predicate:
        """prefixItems and items (after the prefix, as in 2020-12): for lists only."""
        prefix = [self.compile(sub) for sub in _subschemas(schema, "prefixItems")]
        rest = self.compile(schema.get("items", True))
        if not prefix and rest is _always:
            return _always
        count = len(prefix)

        def check(x: Any) -> bool:
            if not isinstance(x, list):
                return True
            for item, own in zip(x, prefix, strict=False):
                if not own(item):
                    return False
            if rest is _never:
                return len(x) <= count
            if rest is not _always:
                for index in range(count, len(x)):
                    if not rest(x[index]):
                        return False
            return True

        return check

    def _if(self, schema: dict[str, Any]) -> Predicate:
        condition = self.compile(schema["if"])
        then = self.compile(schema.get("then", True))
        otherwise = self.compile(schema.get("else", True))
        if then is _always and otherwise is _always:
            return _always
        return lambda x: then(x) if condition(x) else otherwise(x)

    def _reference(self, ref: Any) -> Predicate:
        """A `#/$defs/x` the inliner left (a recursive one), compiled once and looked up when first used."""
        name = ref.removeprefix("#/$defs/") if isinstance(ref, str) else None
        if name is None or name == ref or name not in self._definitions or "/" in name or "~" in name:
            raise UnsupportedSchema(f"$ref {ref!r} is not one of this schema's #/$defs")
        if name not in self._references:
            target: list[Predicate] = []
            self._references[name] = lambda x: target[0](x)
            target.append(self.compile(self._definitions[name]))
        return self._references[name]


def _subschemas(schema: dict[str, Any], keyword: str) -> list[Any]:
    subschemas = schema.get(keyword, [])
    if not isinstance(subschemas, list):
        raise UnsupportedSchema(f"{keyword} must be a list of schemas")
    return subschemas


def _all_of(checks: list[Predicate]) -> Predicate:
    def check(x: Any) -> bool:
        for one in checks:  # noqa: SIM110 - a plain loop is ~2x faster than all() over a generator (hot path)
            if not one(x):
                return False
        return True

    return check


def _one_of(options: list[Predicate]) -> Predicate:
    def check(x: Any) -> bool:
        valid = 0
        for option in options:
            if option(x):
                valid += 1
                if valid > 1:
                    return False
        return valid == 1

    return check


def _not(inner: Predicate) -> Predicate:
    return lambda x: not inner(x)


def _type(names: Any) -> Predicate:
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or any(not isinstance(name, str) or name not in _TYPE_TESTS for name in names):
        raise UnsupportedSchema(f"type {names!r} not compiled")
    tests = [_TYPE_TESTS[name] for name in names]
    if len(tests) == 1:
        return tests[0]
    return lambda x: any(test(x) for test in tests)


def _const(value: Any) -> Predicate:
    return lambda x: equal(x, value)


def _enum(options: Any) -> Predicate:
    if not isinstance(options, list):
        raise UnsupportedSchema("enum must be a list")
    if options and all(type(option) is str for option in options):
        # Against plain text, `equal` is `==`: a set lookup. Anything else takes jsonschema's way.
        names = frozenset(options)

        def check(x: Any) -> bool:
            if type(x) is str:
                return x in names
            return any(equal(option, x) for option in options)

        return check
    return lambda x: any(equal(option, x) for option in options)


def _count_at_least(limit: int, kind: type) -> Predicate:
    return lambda x: not isinstance(x, kind) or len(x) >= limit


def _count_at_most(limit: int, kind: type) -> Predicate:
    return lambda x: not isinstance(x, kind) or len(x) <= limit


_SIZES = ("minLength", "maxLength", "minItems", "maxItems")


def _size(keyword: str, limit: Any) -> Predicate:
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise UnsupportedSchema(f"{keyword} must be a whole number")
    kind = str if keyword.endswith("Length") else list
    # len() of a str counts code points, as jsonschema's minLength does.
    return _count_at_least(limit, kind) if keyword.startswith("min") else _count_at_most(limit, kind)


_BOUNDS = ("minimum", "exclusiveMinimum", "maximum")


def _bound(keyword: str, limit: Any) -> Predicate:
    if not _is_number(limit):
        raise UnsupportedSchema(f"{keyword} must be a number")
    # Written as jsonschema's error conditions negated (`not x < limit`, not `x >= limit`): a NaN passes both.
    if keyword == "minimum":
        return lambda x: not _is_number(x) or not x < limit
    if keyword == "exclusiveMinimum":
        return lambda x: not _is_number(x) or not x <= limit
    return lambda x: not _is_number(x) or not x > limit


def _pattern(pattern: Any) -> Predicate:
    try:
        search = whole_text_pattern(pattern).search
    except (TypeError, re.error) as err:
        raise UnsupportedSchema(f"pattern {pattern!r}: {err}") from err
    return lambda x: not isinstance(x, str) or search(x) is not None


def _format(name: Any) -> Predicate:
    problem_of = FORMAT_PROBLEMS.get(name) if isinstance(name, str) else None
    if problem_of is None:
        # jsonschema's FormatChecker() knows many more formats (date, ipv4, regex, ...): not reimplemented here.
        raise UnsupportedSchema(f"format {name!r} not compiled")

    def check(x: Any) -> bool:
        if not isinstance(x, str):
            return True
        try:
            return not problem_of(x)
        except ValueError:  # format_checker() registers the check with raises=ValueError: a refusal, not a crash
            return False

    return check


def _unique(x: Any) -> bool:
    return not isinstance(x, list) or not has_duplicates(x)
