"""`pattern()` answers as `re.compile` does, compiles once, and every module's patterns are valid expressions."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from model.patterns import LazyPattern, pattern

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("model", "providers", "components", "review")
MODULE_NAMES = sorted(
    f"{package}.{info.name}" for package in PACKAGES for info in pkgutil.iter_modules([str(ROOT / package)])
)


def _patterns_in(module_name: str) -> list[tuple[str, LazyPattern]]:
    """Every lazy pattern a module holds at its top, alone or as a value of a top-level dict."""
    found = []
    for name, value in vars(importlib.import_module(module_name)).items():
        values = value.items() if isinstance(value, dict) else [(None, value)]
        found += [(f"{name}[{key!r}]" if key else name, item) for key, item in values if isinstance(item, LazyPattern)]
    return found


@pytest.mark.parametrize(
    ("source", "flags", "text"),
    [
        (r"^(true|True|TRUE)$", 0, "True"),
        (r"^(true|True|TRUE)$", 0, "true\n"),  # `$` matches before a final newline, compiled or not
        (r"^(bearer|flyv1)\s+", re.IGNORECASE, "BEARER  token"),
        (r"%[0-9A-F]{2}", 0, "a%2Fb%3a"),
        (r"(\w+)=(\d+)", 0, "a=1, b=2"),
    ],
)
def test_a_lazy_pattern_answers_as_the_compiled_pattern(source: str, flags: int, text: str):
    lazy, compiled = pattern(source, flags), re.compile(source, flags)
    assert repr(lazy.match(text)) == repr(compiled.match(text))
    assert repr(lazy.fullmatch(text)) == repr(compiled.fullmatch(text))
    assert [m.span() for m in lazy.finditer(text)] == [m.span() for m in compiled.finditer(text)]
    assert lazy.sub("#", text) == compiled.sub("#", text)
    assert lazy.findall(text) == compiled.findall(text)
    assert (lazy.pattern, lazy.flags, lazy.groups) == (compiled.pattern, compiled.flags, compiled.groups)


def test_a_pattern_compiles_only_when_first_used_and_then_only_once(monkeypatch: pytest.MonkeyPatch):
    compiled: list[str] = []
    real_compile = re.compile

    def counting(source: str, flags: int = 0) -> re.Pattern[str]:
        compiled.append(source)
        return real_compile(source, flags)

    monkeypatch.setattr(re, "compile", counting)
    lazy = pattern(r"^[a-z]+\d$")
    assert compiled == []
    assert lazy.match("ab1") and not lazy.match("ab")
    assert lazy.fullmatch("x9") and lazy.search("q1") and not lazy.search("--q1")
    assert compiled == [r"^[a-z]+\d$"]
    assert lazy.compiled() is lazy.compiled()
    assert "match" in vars(lazy)  # kept on the instance: the next read is a dict lookup, not __getattr__


def test_a_mistyped_expression_fails_when_first_used_with_re_error():
    broken = pattern(r"^(unclosed$")
    with pytest.raises(re.error):
        broken.match("x")


def test_private_names_are_not_looked_up_on_the_pattern():
    lazy = pattern("a")
    with pytest.raises(AttributeError):
        lazy._anything  # noqa: B018 - the lookup is the test
    assert "_compiled" not in vars(lazy)  # asking for a private name did not compile it


@pytest.mark.parametrize("module_name", MODULE_NAMES)
def test_every_pattern_a_module_declares_is_a_valid_expression(module_name: str):
    for name, lazy in _patterns_in(module_name):
        try:
            lazy.compiled()
        except re.error as err:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{module_name}.{name} = {lazy!r}: {err}")


def test_the_modules_declare_lazy_patterns_and_compile_none_at_import():
    assert sum(len(_patterns_in(name)) for name in MODULE_NAMES) > 40
    eager = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
            inside = {id(n) for scope in ast.walk(tree) if isinstance(scope, scopes) for n in ast.walk(scope)}
            eager += [
                f"{path.relative_to(ROOT)}:{node.lineno}"
                for node in ast.walk(tree)
                if isinstance(node, ast.Call) and id(node) not in inside
                and isinstance(node.func, ast.Attribute) and node.func.attr == "compile"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
            ]
    assert eager == [], "compile module-level expressions with model.patterns.pattern (docs/performance.md)"
