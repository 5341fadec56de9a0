"""The UptimeRobot resources the estate declares: monitors and alert contacts/integrations (API v3)."""

from providers.uptimerobot_api import API_KEY_ENV, API_URL_ENV, DEFAULT_API_URL, Tuning, UptimeRobotError
from providers.uptimerobot_contact import AlertContact, AlertContactProvider, Integration
from providers.uptimerobot_monitor import Monitor, MonitorProvider

__all__ = [
    "API_KEY_ENV",
    "API_URL_ENV",
    "DEFAULT_API_URL",
    "AlertContact",
    "AlertContactProvider",
    "Integration",
    "Monitor",
    "MonitorProvider",
    "Tuning",
    "UptimeRobotError",
]
