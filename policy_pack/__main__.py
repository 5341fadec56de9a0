"""Wires the estate's rules (rules.py) into a pulumi-policy PolicyPack; `pulumi preview --policy-pack policy_pack`."""

from __future__ import annotations

from collections.abc import Callable
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

if __package__:  # imported as policy_pack.__main__ (tests)
    from . import rules
else:  # run by the CLI: pulumi.policy runs this file with runpy.run_path(<pack dir>), which puts the dir on sys.path
    import rules  # type: ignore[no-redef]

PACK_NAME = "monitoring-estate"
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
        for violation in rule.check(views):
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
    PolicyPack(
        name=PACK_NAME,
        policies=build_policies(),
        description="Monitoring estate guard rails: alert metadata, paging, escalation, uptime cadence, secrets, "
        "protected identities.",
    )


if __name__ == "__main__":
    main()
