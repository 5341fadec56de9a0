"""Wires the estate's rules (rules.py) into a pulumi-policy PolicyPack; `pulumi preview --policy-pack policy_pack`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyPack,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as _pulumi_policy

if __package__:  # imported as policy_pack.__main__ (tests)
    from . import rules
else:  # run by the CLI: pulumi.policy runs this file with runpy.run_path(<pack dir>), which puts the dir on sys.path
    import rules  # type: ignore[no-redef]

PACK_NAME = "monitoring-estate"

# How a pack sees the stack's config (docs/policy-pack.md): engines that start the pack as a plugin pass it in the
# PULUMI_CONFIG environment variable (JSON of "<project>:<key>" → string, plugin.constructEnv); engines that let
# the language host run the pack (CLI >= 3.221) send it in the AnalyzerStackConfigureRequest of ConfigureStack,
# which pulumi-policy 1.21 receives but keeps only the stack tags of. The pack keeps that request's config here.
_STACK_CONFIG: dict[str, str] = {}


def _keep_stack_config() -> None:
    """Wrap pulumi-policy's ConfigureStack so the stack config it is handed is kept (idempotent)."""
    servicer = _pulumi_policy._PolicyAnalyzerServicer
    original = servicer.ConfigureStack
    if getattr(original, "keeps_stack_config", False):
        return

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        _STACK_CONFIG.clear()
        _STACK_CONFIG.update({str(k): str(v) for k, v in getattr(request, "config", {}).items()})
        return original(self, request, context)

    configure_stack.keeps_stack_config = True  # type: ignore[attr-defined]
    servicer.ConfigureStack = configure_stack


def stack_config(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The stack config the engine gave this pack: ConfigureStack's, else PULUMI_CONFIG's, else empty."""
    if _STACK_CONFIG:
        return dict(_STACK_CONFIG)
    try:
        config = json.loads(environ.get("PULUMI_CONFIG") or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in config.items()} if isinstance(config, dict) else {}
LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


class _Resource(Protocol):
    resource_type: str
    name: str
    urn: str
    props: Any
    opts: PolicyResourceOptions


def resource_view(resource: _Resource) -> rules.ResourceView:
    """The rule-facing view of a ResourceValidationArgs or PolicyResource.

    pulumi-policy 1.21 deserialises properties for validation without its Secret wrappers
    (policy.py `Analyze`/`AnalyzeStack` call `deserialize_properties(...)` with proxy_secrets=False),
    so secretness of inputs is unknown here: secret_props stays None.
    """
    return rules.ResourceView(
        type=resource.resource_type,
        name=resource.name,
        props=resource.props,
        urn=resource.urn,
        protect=bool(resource.opts.protect),
        additional_secret_outputs=frozenset(resource.opts.additional_secret_outputs or ()),
        secret_props=None,
    )


def _validate_resource(rule: rules.ResourceRule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in rule.types:
            return
        for problem in rule.check(resource_view(args)):
            report_violation(problem, None)

    return validate


def _validate_stack(rule: rules.StackRule) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        views = [resource_view(r) for r in args.resources if not rule.types or r.resource_type in rule.types]
        settings = rules.StackSettings.from_config(stack_config())
        for violation in rule.check(views, settings):
            report_violation(violation.message, violation.urn)

    return validate


def build_policies() -> list[Policy]:
    """One pulumi-policy object per rule, with the rule's enforcement level."""
    policies: list[Policy] = [
        ResourceValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=_validate_resource(rule),
            enforcement_level=LEVELS[rule.level],
        )
        for rule in rules.RESOURCE_RULES
    ]
    policies += [
        StackValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=_validate_stack(rule),
            enforcement_level=LEVELS[rule.level],
        )
        for rule in rules.STACK_RULES
    ]
    return policies


def main() -> None:
    """Serve the pack to the engine (blocks: PolicyPack starts the analyzer's gRPC server)."""
    _keep_stack_config()
    PolicyPack(
        name=PACK_NAME,
        policies=build_policies(),
        description="Monitoring estate guard rails: alert metadata, paging, escalation, uptime cadence, secrets, "
        "protected identities.",
    )


if __name__ == "__main__":
    main()
