"""Read Pulumi.yaml and Pulumi.<stack>.yaml the way the CLI would, without decrypting anything."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import PolicyError, Problem
from model.strict_yaml import Document, load_document

_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}


@dataclass(frozen=True)
class StackConfig:
    """The config a stack's program would see, with secrets replaced by placeholders."""

    project: str
    stack: str
    values: dict[str, str]  # fully qualified key → value as the SDK receives it (strings)
    secret_keys: list[str]
    warnings: tuple[Problem, ...] = ()


def placeholder(key: str, ciphertext: str = "") -> str:
    """The stand-in the offline plan uses for a secret config value it cannot (and must not) read.

    It carries a digest of the ciphertext, so re-encrypting a new value (a rotation) shows as a change in
    the offline diff; the ciphertext is useless without the stack's key, and its digest more so.
    """
    if not ciphertext:
        return f"(secret config {key})"
    return f"(secret config {key} #{hashlib.sha256(ciphertext.encode()).hexdigest()[:12]})"


def load_stack_config(project_dir: Path, stack: str) -> StackConfig:
    """Project declarations + stack values; PolicyError listing every missing or mistyped key."""
    problems: list[Problem] = []
    project_doc = _read(project_dir / "Pulumi.yaml", problems, required=True)
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    stack_doc = _read(stack_file, problems, required=True)
    if problems or project_doc is None or stack_doc is None:
        raise PolicyError(problems)
    project = project_doc.data.get("name")
    declared: dict[str, Any] = project_doc.data.get("config") or {}
    raw: dict[str, Any] = (stack_doc.data or {}).get("config") or {}
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    warnings: list[Problem] = []

    def qualify(key: str) -> str:
        return key if ":" in key else f"{project}:{key}"

    for key, value in raw.items():
        full = qualify(key)
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[full] = placeholder(full, str(value["secure"]))
            secret_keys.append(full)
        else:
            values[full] = value if isinstance(value, str) else _to_config_string(value)

    for key, spec in declared.items():
        full = qualify(key)
        spec = spec if isinstance(spec, dict) else {"default": spec}
        line = project_doc.line_of(("config", key))
        if spec.get("secret"):
            if full in values and full not in secret_keys:
                # Declared secret but written in plain text: treat as secret anyway, and say so.
                warnings.append(
                    Problem(
                        stack_file.name, stack_doc.line_of(("config", _raw_key(raw, key, full))), full,
                        "is declared secret but stored in plain text: set it with `pulumi config set --secret`",
                    )
                )
            if full not in values:
                values[full] = placeholder(full)
                warnings.append(
                    Problem(stack_file.name, 0, full, "secret not set: `pulumi up` will stop until it is "
                            f"(pulumi config set --secret {key} <value>)")
                )
            if full not in secret_keys:
                secret_keys.append(full)
            continue
        if full not in values:
            if "default" in spec:
                values[full] = _to_config_string(spec["default"])
            else:
                problems.append(
                    Problem(
                        stack_file.name, 0, full,
                        f"is required (declared in Pulumi.yaml line {line}): pulumi config set {key} <value>",
                    )
                )
            continue
        wanted = _TYPES.get(spec.get("type", "string"), str)
        given = raw.get(_raw_key(raw, key, full))
        if wanted is not str and not isinstance(given, wanted):
            problems.append(
                Problem(
                    stack_file.name, stack_doc.line_of(("config", _raw_key(raw, key, full))), full,
                    f"must be of type {spec.get('type')}, got {given!r}",
                )
            )
    if problems:
        raise PolicyError(problems)
    return StackConfig(project=str(project), stack=stack, values=values, secret_keys=sorted(secret_keys),
                       warnings=tuple(warnings))


def _raw_key(raw: dict, key: str, full: str) -> str:
    return full if full in raw else key


def _to_config_string(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _read(path: Path, problems: list[Problem], *, required: bool) -> Document | None:
    if not path.is_file():
        if required:
            problems.append(Problem(path.name, 0, "", "file not found"))
        return None
    doc, found = load_document(path.read_text(encoding="utf-8"), path.name)
    problems += found
    if doc is not None and doc.data is not None and not isinstance(doc.data, dict):
        problems.append(Problem(path.name, 1, "", "must be a mapping"))
        return None
    return doc
