"""Pulumi.<stack>.yaml checked against Pulumi.yaml's declarations: every problem at the stack file's line."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.errors import PolicyError, Problem
from review.stack_config import load_stack_config

PROJECT = """name: estate
runtime: python
config:
  baseUrl:
    type: string
  org:
    type: string
  managePolicy:
    type: boolean
  retries:
    type: integer
    default: 3
  token:
    type: string
    secret: true
"""
VALID = """config:
  estate:baseUrl: https://example.com/repo
  estate:org: acme
  estate:managePolicy: true
"""


def _write(tmp_path: Path, stack: str | bytes, project: str = PROJECT) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(project)
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_bytes(stack if isinstance(stack, bytes) else stack.encode())
    return tmp_path


def _problems(tmp_path: Path, stack: str | bytes) -> list[Problem]:
    with pytest.raises(PolicyError) as caught:
        load_stack_config(_write(tmp_path, stack), "dev")
    return list(caught.value.problems)


def test_a_stack_that_sets_every_required_value_loads_with_secrets_as_placeholders(tmp_path: Path):
    config = load_stack_config(_write(tmp_path, VALID), "dev")
    assert config.values["estate:org"] == "acme"
    assert config.values["estate:retries"] == "3"
    assert config.secret_keys == ["estate:token"]
    assert "estate:token" in config.values and config.warnings


def test_every_problem_in_the_stack_file_is_reported_at_once_at_its_line(tmp_path: Path):
    stack = """config:
  estate:baseUrl: example.com/repo
  estate:org: ""
  estate:managePolicy: "yes please"
  estate:orgg: acme
  other-project:key: kept
"""
    problems = _problems(tmp_path, stack)
    assert [(p.line, p.path) for p in problems] == [
        (2, "estate:baseUrl"), (3, "estate:org"), (4, "estate:managePolicy"), (5, "estate:orgg"),
    ]
    messages = {p.path: p.message for p in problems}
    assert "needs an http:// or https:// scheme" in messages["estate:baseUrl"]
    assert "is empty" in messages["estate:org"]
    assert "must be of type boolean" in messages["estate:managePolicy"]
    assert 'unknown config key (did you mean "org"?)' in messages["estate:orgg"]


def test_a_url_with_a_space_is_refused(tmp_path: Path):
    problems = _problems(tmp_path, VALID.replace("https://example.com/repo", '"https://exa mple.com/repo"'))
    assert [(p.line, p.path) for p in problems] == [(2, "estate:baseUrl")]


def test_a_missing_required_value_is_reported_at_the_config_section(tmp_path: Path):
    problems = _problems(tmp_path, "# the prod stack\nconfig:\n  estate:org: acme\n  estate:managePolicy: false\n")
    assert [(p.file, p.line, p.path) for p in problems] == [("Pulumi.dev.yaml", 2, "estate:baseUrl")]
    assert "is required (declared in Pulumi.yaml line 4)" in problems[0].message


def test_config_written_as_a_list_is_reported_at_its_line(tmp_path: Path):
    problems = _problems(tmp_path, "# comment\nconfig:\n  - estate:org: acme\n")
    assert [(p.line, p.path) for p in problems] == [(2, "config")]


def test_a_stack_file_that_is_not_utf8_is_reported_at_the_bad_bytes_line(tmp_path: Path):
    problems = _problems(tmp_path, VALID.replace("acme", "acm\u00e9").encode("latin-1"))
    assert [(p.file, p.line) for p in problems] == [("Pulumi.dev.yaml", 3)]
    assert "not UTF-8 text: byte 0xE9" in problems[0].message


def test_an_integer_where_a_boolean_is_declared_is_refused_and_a_boolean_is_not_an_integer(tmp_path: Path):
    problems = _problems(tmp_path, VALID.replace("managePolicy: true", "managePolicy: 1") + "  estate:retries: true\n")
    assert [(p.line, p.path) for p in problems] == [(4, "estate:managePolicy"), (5, "estate:retries")]


def test_a_secure_value_for_a_key_declared_plain_is_not_type_checked(tmp_path: Path):
    config = load_stack_config(_write(tmp_path, VALID + "  estate:retries:\n    secure: v1:abc\n"), "dev")
    assert "estate:retries" in config.secret_keys
