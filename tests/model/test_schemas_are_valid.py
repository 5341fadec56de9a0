"""Every policy schema is a valid JSON Schema 2020-12 document (checked here, not on every plan)."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from model.schema_check import SCHEMA_DIR


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.schema.json")), ids=lambda p: p.name)
def test_each_schema_file_is_a_valid_2020_12_schema(path):
    Draft202012Validator.check_schema(json.loads(path.read_text(encoding="utf-8")))


def test_a_broken_schema_would_be_caught():
    with pytest.raises(SchemaError):
        Draft202012Validator.check_schema({"type": "no-such-type"})
