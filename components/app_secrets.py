"""Fly.io app secrets the estate owns: one resource per key, each value from its declared source."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pulumi

from model import naming, specs
from providers.fly_secrets import AppSecret


class AppSecrets(pulumi.ComponentResource):
    """Every secret an app's policy declares, set on its Fly app (staged for the next deploy)."""

    TYPE = "estate:flysecrets:AppSecrets"

    def __init__(
        self,
        name: str,
        app: specs.App,
        *,
        sentry_dsn: Callable[[], pulumi.Input[str]],
        stack_secrets: Mapping[str, pulumi.Input[str]],
        generated: Mapping[str, pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self.secrets: dict[str, AppSecret] = {}
        for secret in app.secrets:
            if secret.source == "sentry_dsn":
                value = sentry_dsn()
            elif secret.source == "stack_secret":
                assert secret.config_key is not None
                value = stack_secrets[secret.config_key]
            else:
                value = generated[secret.key]
            # The key is the identity on Fly: the logical name derives from it, so renaming nothing
            # else can move a value. Secrets the estate does not own are never declared (the loader
            # refuses estate.yaml's foreign_secrets).
            self.secrets[secret.key] = AppSecret(
                naming.secret_resource(app.id, secret.key),
                app=app.fly_app,
                key=secret.key,
                value=pulumi.Output.secret(value),
                restart_machines=secret.restart_machines,
                adopt_existing=secret.adopt_existing,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.deploy_command = f"fly secrets deploy -a {app.fly_app}"
        self.register_outputs({"keys": sorted(self.secrets)})
