"""Registering the Sentry resources under Pulumi's mock engine: type tokens, secret outputs, pickled providers."""

from __future__ import annotations

import base64
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

from providers.sentry_detector import SentryMetricDetector
from providers.sentry_key import SECRET_OUTPUTS, SentryClientKey
from providers.sentry_project import SentryProject
from providers.sentry_workflow import SentryWorkflow
from tests.fakes.sentry import CANARY_TOKEN

CANARY_DSN = "https://CANARYmockpublic44d1@o1.ingest.us.sentry.io/4501"


class EstateMocks(pulumi.runtime.Mocks):
    """Answers like the engine would after a create, and keeps what each resource was registered with."""

    def __init__(self) -> None:
        self.inputs: dict[str, dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.inputs[args.typ] = dict(args.inputs)
        outputs = dict(args.inputs)
        if args.typ.endswith("sentry:ClientKey"):
            outputs.update(dsn=CANARY_DSN, dsn_public=CANARY_DSN, key_id="CANARYmockpublic44d1")
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


class RecordingMonitor(MockMonitor):
    """The mock monitor, also keeping the raw registration requests (the options the engine would see)."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.requests: dict[str, Any] = {}

    def RegisterResource(self, request: Any) -> Any:
        self.requests[request.type] = request
        return super().RegisterResource(request)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> tuple[EstateMocks, RecordingMonitor]:
    # The token is in the environment while resources are declared: it must not end up in the provider blob.
    monkeypatch.setenv("SENTRY_AUTH_TOKEN", CANARY_TOKEN)
    mocks = EstateMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, preview=False, monitor=monitor)
    return mocks, monitor


def declare_estate() -> tuple[SentryProject, SentryClientKey, SentryMetricDetector, SentryWorkflow]:
    project = SentryProject(
        "shop-sentry-project", organization="acme", team="platform", slug="shop-api", name="Shop API"
    )
    key = SentryClientKey("shop-sentry-key", organization="acme", project=project.slug)
    detector = SentryMetricDetector(
        "shop-error-rate",
        organization="acme",
        project=project.slug,
        name="shop error rate",
        critical_threshold=0.05,
        warning_threshold=0.01,
    )
    workflow = SentryWorkflow(
        "shop-error-rate-routing",
        organization="acme",
        name="shop error rate routing",
        detector_ids=[detector.id],
        action_filters=[
            {
                "conditions": [{"type": "issue_priority_greater_or_equal", "comparison": 75}],
                "actions": [{"type": "pagerduty", "integration_id": "11", "target_identifier": "3"}],
            }
        ],
    )
    return project, key, detector, workflow


@pulumi.runtime.test
def test_resources_register_under_stable_sentry_type_tokens(engine: tuple[EstateMocks, RecordingMonitor]) -> Any:
    _mocks, monitor = engine
    project, key, detector, workflow = declare_estate()

    def verify(_: Any) -> None:
        assert sorted(t for t in monitor.requests if "sentry" in t) == [
            "pulumi-python:dynamic/sentry:ClientKey",
            "pulumi-python:dynamic/sentry:MetricDetector",
            "pulumi-python:dynamic/sentry:Project",
            "pulumi-python:dynamic/sentry:Workflow",
        ]

    return pulumi.Output.all(project.id, key.id, detector.id, workflow.id).apply(verify)


@pulumi.runtime.test
def test_client_key_asks_the_engine_to_keep_every_dsn_output_secret(
    engine: tuple[EstateMocks, RecordingMonitor],
) -> Any:
    _mocks, monitor = engine
    _project, key, _detector, _workflow = declare_estate()

    def verify(dsn: str) -> None:
        assert dsn == CANARY_DSN
        request = monitor.requests["pulumi-python:dynamic/sentry:ClientKey"]
        assert set(SECRET_OUTPUTS) <= set(request.additionalSecretOutputs)
        assert {"dsn", "dsn_public", "key_id", "dsn_secret"} <= set(request.additionalSecretOutputs)

    return key.dsn.apply(verify)


@pulumi.runtime.test
def test_pickled_providers_carry_neither_token_nor_dsn(engine: tuple[EstateMocks, RecordingMonitor]) -> Any:
    mocks, _monitor = engine
    _project, key, _detector, workflow = declare_estate()

    def verify(_: Any) -> None:
        assert len(mocks.inputs) == 4
        for typ, inputs in mocks.inputs.items():
            wrapped = inputs["__provider"]
            # The blob arrives still wrapped as a secret: {<secret signature>: ..., "value": <base64>}.
            assert isinstance(wrapped, dict)
            blob = base64.b64decode(wrapped["value"])
            assert blob.startswith(b"\x80")
            assert CANARY_TOKEN.encode() not in blob, typ
            assert b"CANARYmockpublic44d1" not in blob, typ
            assert b"_GATES_LOCK" not in blob, typ

    return pulumi.Output.all(key.dsn, workflow.id).apply(verify)


@pulumi.runtime.test
def test_the_provider_blob_is_registered_as_a_secret_input(engine: tuple[EstateMocks, RecordingMonitor]) -> Any:
    _mocks, monitor = engine
    project, _key, _detector, _workflow = declare_estate()

    def verify(_: Any) -> None:
        request = monitor.requests["pulumi-python:dynamic/sentry:Project"]
        provider_value = request.object.fields["__provider"]
        # Pulumi's wire marker for a secret value.
        signature = provider_value.struct_value.fields["4dabf18193072939515e22adb298388d"].string_value
        assert signature == "1b47061264138c4ac30d75fd1eb44270"

    return project.id.apply(verify)
