"""Policy values that name stack config keys (`config_key`, `webhook_secret`), checked against Pulumi.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model.limits import MAX_YAML_BYTES, read_source
from model.strict_yaml import load_document

PROJECT_FILE = "Pulumi.yaml"


def declared_config(root: Path) -> dict[str, dict[str, Any]] | None:
    """Pulumi.yaml's `config:` declarations by key, or None when there is no readable Pulumi.yaml under `root`.

    None means "nothing to check against": the stack-config check reports an unreadable Pulumi.yaml itself.
    """
    path = root / PROJECT_FILE
    if not path.is_file():
        return None
    text, _ = read_source(path, PROJECT_FILE, MAX_YAML_BYTES)
    if text is None:
        return None
    doc, _ = load_document(text, PROJECT_FILE)
    if doc is None or not isinstance(doc.data, dict) or not isinstance(doc.data.get("config"), dict):
        return None
    return {
        str(key): spec if isinstance(spec, dict) else {"default": spec} for key, spec in doc.data["config"].items()
    }


def undeclared_config_problem(key: str, declared: dict[str, dict[str, Any]]) -> str | None:
    """Why a policy may not read stack secret `key`: Pulumi.yaml does not declare it, or not as a secret."""
    if key not in declared:
        import difflib  # here: only a mistake needs a suggestion, and a valid plan should not pay for importing it

        hint = difflib.get_close_matches(key, list(declared), n=1)
        suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
        return (
            f'config key "{key}" is not declared in {PROJECT_FILE}{suggestion}: '
            "fix the name here, or declare it there with `secret: true`"
        )
    if not declared[key].get("secret"):
        return f'config key "{key}" is declared in {PROJECT_FILE} without `secret: true`: declare it as a secret'
    return None
