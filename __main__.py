"""The estate's Pulumi program: validated policies + stack config → resources → outputs."""

from pathlib import Path

import pulumi

from components.estate import Settings, declare_estate, export_all, secret_config_keys
from model.errors import PolicyError
from model.load import load_estate

ROOT = Path(__file__).resolve().parent

try:
    estate = load_estate(ROOT)
except PolicyError as err:
    # RunError: Pulumi prints the message without a traceback, and nothing is declared.
    raise pulumi.RunError(str(err)) from None

config = pulumi.Config()
settings = Settings(
    runbook_base_url=config.require("runbookBaseUrl"),
    secrets={key: config.require_secret(key) for key in secret_config_keys(estate)},
)
export_all(declare_estate(estate, settings))
