"""Schema patterns anchor at the very end of a value: a trailing newline is not part of an id."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.estates import ESTATES, copy_estate, loaded
from tests.policy_copies import line_of, problems


@pytest.mark.parametrize("name", sorted(ESTATES))
def test_an_app_id_with_a_trailing_newline_is_a_schema_problem_at_its_line(tmp_path: Path, name: str) -> None:
    project = copy_estate(name, tmp_path)
    app = loaded(name).apps[0]
    path = project / app.file
    text = path.read_text().replace(f"\nid: {app.id}\n", f'\nid: "{app.id}\\n"\n', 1)
    assert f'id: "{app.id}\\n"' in text, "the app file has no top-level `id:` line to edit"
    path.write_text(text)
    found = [p for p in problems(project) if str(p.file).endswith(app.file) and p.path == "id"]
    assert [p.line for p in found] == [line_of(text, f'id: "{app.id}\\n"')]
    assert "expected form" in found[0].message
