"""The estate's Pulumi program: settings from stack config → validated policies → resources → outputs."""

from pathlib import Path

import pulumi

from components.estate import Settings, declare_estate, export_all
from model.errors import PolicyError
from model.load import load_estate

ROOT = Path(__file__).resolve().parent

config = pulumi.Config()
settings = Settings(runbook_base_url=config.require("runbookBaseUrl"))
try:
    estate = load_estate(ROOT)
except PolicyError as err:
    # RunError: Pulumi prints the message without a traceback, and nothing is declared.
    raise pulumi.RunError(str(err)) from None
export_all(declare_estate(estate, settings))
