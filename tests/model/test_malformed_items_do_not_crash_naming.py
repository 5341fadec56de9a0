"""A list item whose id is not a string is one located problem, not a crash of the name-clash check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from model.errors import PolicyError
from model.load import load_estate


@pytest.mark.parametrize("section", ["alerts", "budgets"])
def test_an_item_whose_id_is_a_list_is_reported_at_its_line(project_copy: Path, section: str):
    app_file = sorted((project_copy / "alert_policies" / "apps").glob("*.yaml"))[0]
    text = app_file.read_text()
    first_id = yaml.safe_load(text)[section][0]["id"]
    section_start = re.search(rf"^{section}:\s*$", text, re.M).end()
    match = re.compile(rf"^(\s*-?\s*)id: {re.escape(first_id)}\s*$", re.M).search(text, section_start)
    line = text[: match.start()].count("\n") + 1
    app_file.write_text(text[: match.start()] + f"{match.group(1)}id: [{first_id}, again]" + text[match.end() :])

    with pytest.raises(PolicyError) as caught:
        load_estate(project_copy)

    located = [p for p in caught.value.problems if p.line == line and p.path.startswith(f"{section}[0]")]
    assert located, "\n".join(map(str, caught.value.problems))
