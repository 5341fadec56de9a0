"""The Fly secrets component under mocks: one resource per declared key, each value from its source, secret.

Run over every example estate; each expectation is read from the estate's own app files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from model import naming, specs
from model.errors import PolicyError
from model.load import load_estate
from review.engine import Registration, Secret
from tests.estates import ESTATES, Declared, copy_estate, declared, estates_where

SECRET = "pulumi-python:dynamic/fly:AppSecret"
MONITOR = "pulumi-python:dynamic/uptimerobot:Monitor"


@pytest.fixture(params=estates_where(lambda e: any(app.secrets for app in e.apps)))
def case(request: pytest.FixtureRequest) -> Declared:
    return declared(request.param)


def _fly_secret(case: Declared, app: specs.App, key: str) -> Registration:
    """The Fly secret resource of one key (its generated password, if any, shares the name)."""
    [found] = [r for r in case.recording.by_type(SECRET) if r.name == naming.secret_resource(app.id, key)]
    return found


def test_one_resource_per_declared_key_on_the_apps_fly_app_and_none_for_foreign_keys(case):
    declared_keys = [(r.inputs["app"], r.inputs["key"]) for r in case.recording.by_type(SECRET)]
    expected = [(app.fly_app, s.key) for app in case.estate.apps for s in app.secrets]
    assert sorted(declared_keys) == sorted(expected)
    assert not {key for _, key in declared_keys} & set(case.estate.foreign_secrets)
    for app in case.estate.apps:
        for secret in app.secrets:
            assert _fly_secret(case, app, secret.key).inputs["key"] == secret.key


def test_each_value_comes_from_its_source_and_is_secret(case):
    for app in case.estate.apps:
        for secret in app.secrets:
            value = _fly_secret(case, app, secret.key).inputs["value"]
            assert isinstance(value, Secret), (app.id, secret.key)
            if secret.source == "sentry_dsn":
                assert value.reveal() == f"(DSN of {naming.sentry_key_resource(app.id)})"
            elif secret.source == "stack_secret":
                assert value == Secret(case.canaries[secret.config_key])
            else:
                assert value.reveal() == f"(generated value of {naming.secret_resource(app.id, secret.key)})"


def test_the_estates_between_them_use_every_secret_source():
    sources = {s.source for name in ESTATES for app in declared(name).estate.apps for s in app.secrets}
    assert sources == {"sentry_dsn", "stack_secret", "generated"}


@pytest.mark.parametrize("name", estates_where(lambda e: any(a.health.token_header for a in e.apps)))
def test_the_health_token_on_fly_is_the_one_the_monitor_sends(name):
    case = declared(name)
    for app in case.estate.apps:
        if not app.health.token_header:
            continue
        monitor = case.recording.named(naming.uptime_monitor_resource(app.id))
        header = monitor.inputs["custom_headers"].reveal()[app.health.token_header]
        fly = _fly_secret(case, app, "HEALTH_CHECK_TOKEN")
        assert fly.inputs["value"].reveal() == header


def test_values_are_staged_and_the_plan_names_the_deploy_command(case):
    staged = [app for app in case.estate.apps if app.secrets and not all(s.restart_machines for s in app.secrets)]
    for app in case.estate.apps:
        for secret in app.secrets:
            assert _fly_secret(case, app, secret.key).inputs["restart_machines"] is secret.restart_machines
    assert case.recording.outputs["fly_secrets_deploy"] == {
        app.id: f"fly secrets deploy -a {app.fly_app}" for app in staged
    }


def test_the_secret_values_digests_are_secret_outputs(case):
    for registration in case.recording.by_type(SECRET):
        assert {"value", "digest"} <= set(registration.additional_secret_outputs)


@pytest.mark.parametrize("name", estates_where(lambda e: bool(e.foreign_secrets)))
def test_declaring_a_foreign_secret_is_refused(name, tmp_path: Path):
    estate = declared(name).estate
    foreign = estate.foreign_secrets[0]
    app = estate.apps[0]
    root = copy_estate(name, tmp_path)
    document = yaml.safe_load((root / app.file).read_text())
    document.setdefault("secrets", []).append({"key": foreign, "source": "generated"})
    (root / app.file).write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(PolicyError, match=f"{foreign} is owned outside the estate"):
        load_estate(root)
