"""A stateful fake of the Sentry REST API subset the estate uses, served over real HTTP on loopback."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from werkzeug import Request, Response

from providers.sentry_common import forget_adoptions
from tests.fakes.loopback import LoopbackFake

FULL_SCOPES = frozenset(
    {
        "org:read",
        "org:write",
        "project:read",
        "project:write",
        "project:admin",
        "team:read",
        "team:write",
        "alerts:read",
        "alerts:write",
    }
)
SLUG_PATTERN = re.compile(r"^(?![0-9]+$)[a-z0-9_\-]+$")
WORKFLOW_FREQUENCIES = frozenset({0, 5, 10, 30, 60, 180, 720, 1440})
TRIGGER_TYPES = frozenset(
    {
        "first_seen_event",
        "regression_event",
        "reappeared_event",
        "issue_resolved_trigger",
        "new_high_priority_issue",
        "existing_high_priority_issue",
        "issue_resolution_change",
    }
)
FILTER_TYPES = frozenset(
    {
        "issue_priority_greater_or_equal",
        "issue_priority_deescalating",
        "event_frequency_count",
        "event_frequency_percent",
        "event_unique_user_frequency_count",
        "percent_sessions_count",
        "percent_sessions_percent",
        "issue_occurrences",
        "age_comparison",
        "assigned_to",
        "issue_category",
        "issue_type",
        "level",
        "tagged_event",
        "event_attribute",
        "latest_release",
        "latest_adopted_release",
    }
)
ACTION_TYPES = frozenset(
    {
        "email",
        "slack",
        "pagerduty",
        "discord",
        "msteams",
        "opsgenie",
        "jira",
        "github",
        "webhook",
        "sentry_app",
        "jira_server",
        "vsts",
    }
)
LOGIC_TYPES = frozenset({"any", "any-short", "all", "none"})
DETECTOR_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
PRIORITY_LEVELS = frozenset({0, 25, 50, 75})
TIME_WINDOWS = frozenset({60, 300, 600, 900, 1800, 3600, 7200, 14400, 86400})
DEPRECATION_HEADERS = {"X-Sentry-Deprecation-Date": "2026-05-14T00:00:00Z"}



# Sentry's DEFAULT_PROJECT_PERFORMANCE_DETECTION_SETTINGS (switches; thresholds left out: the estate sends none).
PERFORMANCE_DEFAULTS = {
    name: True
    for name in (
        "uncompressed_assets_detection_enabled",
        "consecutive_http_spans_detection_enabled",
        "large_http_payload_detection_enabled",
        "n_plus_one_db_queries_detection_enabled",
        "n_plus_one_api_calls_detection_enabled",
        "db_on_main_thread_detection_enabled",
        "file_io_on_main_thread_detection_enabled",
        "consecutive_db_queries_detection_enabled",
        "large_render_blocking_asset_detection_enabled",
        "slow_db_queries_detection_enabled",
        "http_overhead_detection_enabled",
        "transaction_duration_regression_detection_enabled",
        "function_duration_regression_detection_enabled",
        "db_query_injection_detection_enabled",
        "web_vitals_detection_enabled",
    )
}
PERFORMANCE_SUPERUSER_ONLY = frozenset(
    {"transaction_duration_regression_detection_enabled", "function_duration_regression_detection_enabled"}
)
# Sentry's fingerprinting grammar (src/sentry/grouping/fingerprinting/), written out as regular expressions.
_FP_MATCHER = r' *!?(?P<key>[a-zA-Z0-9_.-]+|"[a-zA-Z0-9_.:-]+"):(?:"(?:[^"\\]|\\.)*"|\S+)'
_FP_VALUE = r' *(?:(?P<attr>[a-zA-Z0-9_.-]+)="(?:[^"\\]|\\.)*"|"(?:[^"\\]|\\.)*"|\{\{\s*\S+\s*\}\}|[^\s{,]+) *,?'
_FP_RULE = re.compile(
    rf"(?P<matchers>(?:{_FP_MATCHER.replace('?P<key>', '')})+) *-> *(?:{_FP_VALUE.replace('?P<attr>', '')})+ *"
)
FINGERPRINT_MATCHER_KEYS = frozenset({
    "error.type", "error.value", "stack.module", "stack.abs_path", "stack.package", "stack.function", "message",
    "logger", "level", "type", "value", "module", "path", "package", "function", "family", "app", "sdk", "release",
})
ENHANCER_MATCHER_KEYS = frozenset({
    "family", "path", "stack.abs_path", "module", "stack.module", "function", "stack.function", "package",
    "stack.package", "app", "type", "error.type", "value", "error.value", "mechanism", "error.mechanism", "category",
})
ENHANCER_VARIABLES = {"max-frames": r"\d+", "min-frames": r"\d+", "invert-stacktrace": r"1|0|true|false|yes|no",
                      "category": r"\S+"}


def _syntax_error(line: str, number: int) -> str:
    context = line[:33]
    if len(context) == 33:
        context = context[:-1] + "..."
    return f'Invalid syntax near "{context}" (line {number}, column 1)'


def fingerprinting_error(text: str) -> str | None:
    """Sentry's message for fingerprint rules it cannot parse, or None (the column is always 1 here)."""
    for number, line in enumerate(text.splitlines(), start=1):
        body = line.strip(" ")
        if not body or body.startswith("#"):
            continue
        if not _FP_RULE.fullmatch(body):
            return _syntax_error(body, number)
        for matcher in re.finditer(_FP_MATCHER, body.split("->", 1)[0]):
            key = matcher["key"].strip('"').lstrip("!")
            if key not in FINGERPRINT_MATCHER_KEYS and not key.startswith("tags."):
                return f"Unknown matcher '{key}'"
        for value in re.finditer(_FP_VALUE, body.split("->", 1)[1]):
            if value["attr"] and value["attr"] != "title":
                return f"Unknown attribute '{value['attr']}'"
    return None


def enhancements_error(text: str) -> str | None:
    """An error for stack-trace rules Sentry's enhancer parser refuses (message shapes assumed, docs/sentry.md)."""
    for number, line in enumerate(text.splitlines(), start=1):
        body = line.strip(" ")
        if not body or body.startswith("#"):
            continue
        tokens = body.split()
        matchers = [t for t in tokens if ":" in t and "=" not in t.split(":", 1)[0]]
        actions = tokens[len(matchers):]
        if not matchers or not actions or tokens[: len(matchers)] != matchers:
            return _syntax_error(body, number)
        for matcher in matchers:
            key = matcher.split(":", 1)[0].lstrip("!")
            if key not in ENHANCER_MATCHER_KEYS:
                return f"Unknown matcher '{key}'"
        for action in actions:
            name, equals, value = action.partition("=")
            if equals:
                if name not in ENHANCER_VARIABLES:
                    return f"Unknown variable '{name}'"
                if not re.fullmatch(ENHANCER_VARIABLES[name], value):
                    return f"Invalid value '{value}' for '{name}'"
            elif not re.fullmatch(r"[v^]?[+-](app|group)", action):
                return _syntax_error(body, number)
    return None


def _now_iso(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(clock(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeError(Exception):
    """Ends a request with a Sentry-shaped error response."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _not_found() -> FakeError:
    return FakeError(404, {"detail": "The requested resource does not exist"})


def _invalid(field_errors: Mapping[str, Any]) -> FakeError:
    return FakeError(400, dict(field_errors))


@dataclass
class Fault:
    """A scripted failure for matching requests.

    `after_effect` applies the request first (an ambiguous failure); `delay` holds the answer back so a
    client read timeout fires; status None then answers normally, just late.
    """

    method: str
    path: re.Pattern[str]
    status: int | None
    times: int = 1
    after_effect: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    raw: str | None = None
    content_type: str = "text/html; charset=utf-8"


@dataclass
class Org:
    """One organisation's state."""

    id: str
    slug: str
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    moved_slugs: dict[str, str] = field(default_factory=dict)
    keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    detectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    metric_alerts_enabled: bool = True
    max_workflows: int = 100
    # Sentry answers 404 on the performance-issue settings of an organisation without "performance-view".
    performance_view: bool = True


class FakeSentry(LoopbackFake):
    """Serves /api/0 for one or more organisations, with auth, scopes, pagination, rate limits and faults."""

    def __init__(
        self,
        *,
        tokens: Mapping[str, frozenset[str]] | None = None,
        clock: Callable[[], float] = time.time,
        page_size: int = 100,
        rate_limit: int = 1000,
        rate_window_seconds: int = 60,
    ) -> None:
        self.tokens = dict(tokens or {})
        self.clock = clock
        self.page_size = page_size
        self.rate_limit = rate_limit
        self.rate_window_seconds = rate_window_seconds
        self.orgs: dict[str, Org] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.deprecated_calls: list[tuple[str, str]] = []
        self.statuses: list[tuple[str, str, int]] = []
        self.issue_stream_lag = 0
        # Assumed, not documented: how many list calls a newly created workflow or detector stays out of lists.
        self.list_lag = 0
        # The Slack workspace behind every Slack integration: channel name -> channel id. Names not listed are
        # found (and given a stable id) unless they are in `missing_slack_channels`.
        self.slack_channels: dict[str, str] = {}
        self.missing_slack_channels: set[str] = set()
        self.slack_lookups = 0
        self._next_id = 4500
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = [
            (m, re.compile(p), h)
            for m, p, h in [
                ("GET", r"/api/0/teams/(?P<org>[^/]+)/(?P<team>[^/]+)/projects/", self._list_team_projects),
                ("POST", r"/api/0/teams/(?P<org>[^/]+)/(?P<team>[^/]+)/projects/", self._create_project),
                ("GET", r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/", self._get_project),
                ("PUT", r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/", self._update_project),
                ("DELETE", r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/", self._delete_project),
                (
                    "POST",
                    r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/teams/(?P<team>[^/]+)/",
                    self._add_project_team,
                ),
                (
                    "DELETE",
                    r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/teams/(?P<team>[^/]+)/",
                    self._remove_project_team,
                ),
                (
                    "GET",
                    r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/performance-issues/configure/",
                    self._get_performance_settings,
                ),
                (
                    "PUT",
                    r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/performance-issues/configure/",
                    self._update_performance_settings,
                ),
                ("GET", r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/keys/", self._list_keys),
                ("POST", r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/keys/", self._create_key),
                (
                    "GET",
                    r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/keys/(?P<key>[^/]+)/",
                    self._get_key,
                ),
                (
                    "PUT",
                    r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/keys/(?P<key>[^/]+)/",
                    self._update_key,
                ),
                (
                    "DELETE",
                    r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/keys/(?P<key>[^/]+)/",
                    self._delete_key,
                ),
                ("GET", r"/api/0/organizations/(?P<org>[^/]+)/detectors/", self._list_detectors),
                (
                    "POST",
                    r"/api/0/organizations/(?P<org>[^/]+)/projects/(?P<project>[^/]+)/detectors/",
                    self._create_detector,
                ),
                ("GET", r"/api/0/organizations/(?P<org>[^/]+)/detectors/(?P<id>\d+)/", self._get_detector),
                ("PUT", r"/api/0/organizations/(?P<org>[^/]+)/detectors/(?P<id>\d+)/", self._update_detector),
                (
                    "DELETE",
                    r"/api/0/organizations/(?P<org>[^/]+)/detectors/(?P<id>\d+)/",
                    self._delete_detector,
                ),
                ("GET", r"/api/0/organizations/(?P<org>[^/]+)/workflows/", self._list_workflows),
                ("POST", r"/api/0/organizations/(?P<org>[^/]+)/workflows/", self._create_workflow),
                ("GET", r"/api/0/organizations/(?P<org>[^/]+)/workflows/(?P<id>\d+)/", self._get_workflow),
                ("PUT", r"/api/0/organizations/(?P<org>[^/]+)/workflows/(?P<id>\d+)/", self._update_workflow),
                (
                    "DELETE",
                    r"/api/0/organizations/(?P<org>[^/]+)/workflows/(?P<id>\d+)/",
                    self._delete_workflow,
                ),
            ]
        ]

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.root_url("/api/0")

    # -- seeding and inspection --------------------------------------------------------------------

    def new_id(self) -> str:
        with self._lock:
            self._next_id += 1
            return str(self._next_id)

    def add_org(self, slug: str, *, teams: tuple[str, ...] = ("platform",)) -> Org:
        with self._lock:
            org = Org(id=self.new_id(), slug=slug)
            for team in teams:
                org.teams[team] = {"id": self.new_id(), "slug": team, "name": team.title()}
            self.orgs[slug] = org
            return org

    def seed_project(
        self,
        org_slug: str,
        team: str,
        slug: str,
        name: str,
        platform: str = "elixir",
        *,
        default_key: tuple[str, str] | None = None,
    ) -> dict:
        """An existing project made the way Sentry makes one (default key, default detectors).

        `default_key` pins the Default key's (public, secret) values so tests can hunt for them as canaries.
        """
        with self._lock:
            org = self.orgs[org_slug]
            project = self._make_project(org, org.teams[team], slug, name, platform)
            if default_key is not None:
                org.keys[project["id"]] = [self._make_key(org, project["id"], "Default", None, *default_key)]
            return copy.deepcopy(project)

    def seed_key(self, org_slug: str, project_id: str, name: str, public: str = "", secret: str = "") -> dict:
        """A client key made by hand in Sentry's Client Keys page, beside the project's others."""
        with self._lock:
            org = self.orgs[org_slug]
            key = self._make_key(org, project_id, name, None, public, secret)
            org.keys.setdefault(project_id, []).append(key)
            return copy.deepcopy(key)

    def seed_workflow(self, org_slug: str, body: dict[str, Any]) -> dict:
        with self._lock:
            return copy.deepcopy(self._store_workflow(self.orgs[org_slug], body, existing=None))

    def project_by_slug(self, org_slug: str, slug: str) -> dict[str, Any] | None:
        with self._lock:
            for project in self.orgs[org_slug].projects.values():
                if project["slug"] == slug:
                    return copy.deepcopy(project)
            return None

    def keys_of(self, org_slug: str, project_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self.orgs[org_slug].keys.get(project_id, []))

    def detectors_of(self, org_slug: str, project_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(d) for d in self.orgs[org_slug].detectors.values() if d["projectId"] == project_id]

    def workflows_named(self, org_slug: str, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(w) for w in self.orgs[org_slug].workflows.values() if w["name"] == name]

    def calls(self, method: str, pattern: str) -> int:
        regex = re.compile(pattern)
        with self._lock:
            return sum(1 for m, p, _ in self.requests if m == method and regex.fullmatch(p))

    def inject(
        self,
        method: str,
        path_pattern: str,
        status: int | None,
        *,
        times: int = 1,
        after_effect: bool = False,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        delay: float = 0.0,
        raw: str | None = None,
        content_type: str = "text/html; charset=utf-8",
    ) -> None:
        """Scripts a failure; `raw` answers with that text verbatim (an HTML proxy page, truncated JSON)."""
        with self._lock:
            self.faults.append(
                Fault(
                    method,
                    re.compile(path_pattern),
                    status,
                    times,
                    after_effect,
                    dict(headers or {}),
                    body,
                    delay,
                    raw,
                    content_type,
                )
            )

    # -- HTTP plumbing -----------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self._handle(request)
        with self._lock:
            self.statuses.append((request.method, request.path, response.status_code))
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        path = request.path
        query = {k: request.args.getlist(k) for k in request.args}
        with self._lock:
            self.requests.append((request.method, path, query))
        token = self._token(request)
        if token is None:
            return self._respond(401, {"detail": "Authentication credentials were not provided."})
        if token not in self.tokens:
            return self._respond(401, {"detail": "Invalid token"})
        if self._is_deprecated(path):
            with self._lock:
                self.deprecated_calls.append((request.method, path))
            replacement = "/api/0/organizations/{organization_id_or_slug}/workflows/"
            if "/alert-rules/" in path:
                replacement = "/api/0/organizations/{organization_id_or_slug}/detectors/"
            return self._respond(
                410,
                {"message": "This API no longer exists."},
                {**DEPRECATION_HEADERS, "X-Sentry-Replacement-Endpoint": replacement},
            )
        routed = self._route(request.method, path)
        if routed is None:
            return self._respond(404, {"detail": "The requested resource does not exist"})
        handler, match = routed
        family = self._family(path)
        limited = self._count_rate(token, family)
        if limited is not None:
            return limited
        denied = self._check_scope(token, request.method, family, path)
        if denied is not None:
            return denied
        fault = self._take_fault(request.method, path)
        if fault is not None and not fault.after_effect and fault.status is not None:
            time.sleep(fault.delay)
            return self._fault_response(fault)
        try:
            body = request.get_json(silent=True) if request.data else None
            status, payload, extra_headers = handler(request, body, **match.groupdict())
        except FakeError as error:
            return self._respond(error.status, error.body, {**error.headers, **self._rate_headers(token, family)})
        if fault is not None:
            time.sleep(fault.delay)
            if fault.status is not None:
                return self._fault_response(fault)
            if fault.raw is not None or fault.body is not None:
                return self._fault_response(fault, status)
        return self._respond(status, payload, {**extra_headers, **self._rate_headers(token, family)})

    def _fault_response(self, fault: Fault, status: int | None = None) -> Response:
        code = fault.status if fault.status is not None else status or 200
        if fault.raw is not None:
            return Response(fault.raw, status=code, headers=fault.headers, content_type=fault.content_type)
        return self._respond(code, fault.body or {"detail": "Internal Error"}, fault.headers)

    def _route(self, method: str, path: str) -> tuple[Callable[..., Any], re.Match[str]] | None:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return handler, match
        return None

    @staticmethod
    def _token(request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            return None
        return token

    @staticmethod
    def _is_deprecated(path: str) -> bool:
        return bool(
            re.fullmatch(r"/api/0/projects/[^/]+/[^/]+/rules/(.*)", path)
            or re.fullmatch(r"/api/0/organizations/[^/]+/alert-rules/(.*)", path)
        )

    @staticmethod
    def _family(path: str) -> str:
        if "/keys/" in path:
            return "keys"
        if "/detectors/" in path:
            return "detectors"
        if "/workflows/" in path:
            return "workflows"
        return "projects"

    def _check_scope(self, token: str, method: str, family: str, path: str) -> Response | None:
        read = {"GET", "HEAD"}
        if family in {"projects", "keys"}:
            if method in read:
                needed = {"project:read", "project:write", "project:admin"}
            elif method == "DELETE" and not path.endswith("/teams/"):
                needed = {"project:admin"}
            elif path.startswith("/api/0/teams/"):
                needed = {"project:write", "project:admin", "team:admin", "org:write"}
            else:
                needed = {"project:write", "project:admin"}
        elif method in read:
            needed = {"alerts:read", "alerts:write", "org:read", "org:write", "org:admin"}
        elif family == "detectors" and method == "POST":
            needed = {"alerts:write", "project:write", "project:admin"}
        else:
            needed = {"alerts:write", "org:write", "org:admin"}
        if needed & self.tokens[token]:
            return None
        return self._respond(403, {"detail": "You do not have permission to perform this action."})

    def _count_rate(self, token: str, family: str) -> Response | None:
        with self._lock:
            now = self.clock()
            start, count = self._windows.get((token, family), (now, 0))
            if now >= start + self.rate_window_seconds:
                start, count = now, 0
            if count >= self.rate_limit:
                headers = self._rate_headers(token, family)
                # Sentry's rate-limit middleware answers with a bare JSON string and no Retry-After (reference §10).
                return self._respond(
                    429,
                    f"You are attempting to use this endpoint too frequently. Limit is "
                    f"{self.rate_limit} requests in {self.rate_window_seconds} seconds",
                    headers,
                )
            self._windows[(token, family)] = (start, count + 1)
            return None

    def _rate_headers(self, token: str, family: str) -> dict[str, str]:
        with self._lock:
            start, count = self._windows.get((token, family), (self.clock(), 0))
            return {
                "X-Sentry-Rate-Limit-Limit": str(self.rate_limit),
                "X-Sentry-Rate-Limit-Remaining": str(max(0, self.rate_limit - count)),
                "X-Sentry-Rate-Limit-Reset": str(int(start + self.rate_window_seconds)),
                "X-Sentry-Rate-Limit-ConcurrentLimit": "25",
                "X-Sentry-Rate-Limit-ConcurrentRemaining": "24",
            }

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.path.fullmatch(path) and fault.times > 0:
                    fault.times -= 1
                    return fault
            return None

    @staticmethod
    def _respond(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        if status == 204 or payload is None:
            return Response(status=status, headers=dict(headers or {}))
        return Response(
            json.dumps(payload), status=status, headers=dict(headers or {}), content_type="application/json"
        )

    def _paginate(self, request: Request, items: list[dict[str, Any]]) -> tuple[int, Any, dict[str, str]]:
        try:
            per_page = min(int(request.args.get("per_page", "100")), 100, self.page_size)
        except ValueError as exc:
            raise _invalid({"detail": "Invalid per_page"}) from exc
        cursor = request.args.get("cursor", "0:0:0")
        try:
            offset = int(cursor.split(":")[1])
        except (IndexError, ValueError) as exc:
            raise FakeError(400, {"detail": "Invalid cursor parameter."}) from exc
        page = items[offset : offset + per_page]
        base = request.base_url
        others = [(k, v) for k in request.args for v in request.args.getlist(k) if k != "cursor"]

        def link(rel: str, target: int, results: bool) -> str:
            value = f"0:{max(target, 0)}:{1 if rel == 'previous' else 0}"
            url = f"{base}?{urlencode([*others, ('cursor', value)])}"
            return f'<{url}>; rel="{rel}"; results="{str(results).lower()}"; cursor="{value}"'

        header = ", ".join(
            [
                link("previous", offset - per_page, offset > 0),
                link("next", offset + per_page, offset + per_page < len(items)),
            ]
        )
        return 200, copy.deepcopy(page), {"Link": header}

    # -- lookups -----------------------------------------------------------------------------------

    def _org(self, slug: str) -> Org:
        org = self.orgs.get(slug)
        if org is None:
            raise _not_found()
        return org

    def _project(self, org: Org, id_or_slug: str, request: Request | None = None) -> dict[str, Any]:
        if id_or_slug in org.projects:
            return org.projects[id_or_slug]
        for project in org.projects.values():
            if project["slug"] == id_or_slug:
                return project
        if id_or_slug in org.moved_slugs and org.moved_slugs[id_or_slug] in org.projects:
            # Sentry answers requests on a renamed project's old slug with 302 and a Location header.
            new_slug = org.projects[org.moved_slugs[id_or_slug]]["slug"]
            old_path = request.path if request is not None else ""
            new_path = old_path.replace(f"/{id_or_slug}/", f"/{new_slug}/", 1)
            raise FakeError(
                302,
                {
                    "slug": new_slug,
                    "detail": {
                        "code": "resource-moved",
                        "message": "Resource has been moved",
                        "extra": {"url": new_path, "slug": new_slug},
                    },
                },
                {"Location": new_path},
            )
        raise _not_found()

    # -- projects ----------------------------------------------------------------------------------

    def _make_project(
        self,
        org: Org,
        team: dict[str, Any],
        slug: str,
        name: str,
        platform: str | None,
    ) -> dict[str, Any]:
        project_id = self.new_id()
        project = {
            "id": project_id,
            "slug": slug,
            "name": name,
            "platform": platform,
            "status": "active",
            "dateCreated": _now_iso(self.clock),
            "isBookmarked": False,
            "isMember": True,
            "hasAccess": True,
            "teams": [dict(team)],
            "resolveAge": 0,
            "digestsMinDelay": 300,
            "digestsMaxDelay": 1800,
            "subjectPrefix": "",
            # Unset grouping texts read back as empty strings.
            "fingerprintingRules": "",
            "groupingEnhancements": "",
            "_performance": dict(PERFORMANCE_DEFAULTS),
            "features": ["alert-filters", "minidump", "similarity-view"],
            "organization": {"id": org.id, "slug": org.slug, "name": org.slug.title()},
        }
        org.projects[project_id] = project
        org.keys[project_id] = [self._make_key(org, project_id, "Default", None)]
        for kind, label in (("error", "Error Monitor"), ("issue_stream", "Issue Stream")):
            detector_id = self.new_id()
            org.detectors[detector_id] = {
                "id": detector_id,
                "projectId": project_id,
                "name": label,
                "description": None,
                "type": kind,
                "workflowIds": [],
                "owner": None,
                "createdBy": None,
                "dateCreated": _now_iso(self.clock),
                "dateUpdated": _now_iso(self.clock),
                "dataSources": None,
                "conditionGroup": None,
                "config": {},
                "enabled": True,
                "alertRuleId": None,
                "ruleId": None,
                "latestGroup": None,
                "_hidden_lists": self.issue_stream_lag if kind == "issue_stream" else 0,
            }
        return project

    def _list_team_projects(self, request: Request, body: Any, org: str, team: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        if team not in organization.teams:
            raise _not_found()
        team_id = organization.teams[team]["id"]
        items = [p for p in organization.projects.values() if any(t["id"] == team_id for t in p["teams"])]
        return self._paginate(request, items)

    def _create_project(self, request: Request, body: Any, org: str, team: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        if team not in organization.teams:
            raise _not_found()
        body = body or {}
        errors: dict[str, list[str]] = {}
        name = body.get("name")
        if not isinstance(name, str) or not name:
            errors["name"] = ["This field is required."]
        elif len(name) > 50:
            errors["name"] = ["Ensure this field has no more than 50 characters."]
        slug = body.get("slug") or (re.sub(r"[^a-z0-9_\-]+", "-", name.lower()).strip("-") if name else "")
        if slug and (not SLUG_PATTERN.match(slug) or len(slug) > 100):
            errors["slug"] = [
                "Enter a valid slug consisting of lowercase letters, numbers, underscores or "
                "hyphens. It cannot be entirely numeric."
            ]
        if errors:
            raise _invalid(errors)
        with self._lock:
            taken = {p["slug"] for p in organization.projects.values()} | set(organization.moved_slugs)
            if slug in taken:
                raise FakeError(409, {"detail": "A project with this slug already exists."})
            project = self._make_project(organization, organization.teams[team], slug, name, body.get("platform"))
            # Sentry only skips its "alert on every new issue" rule when asked; remember what was asked.
            project["_default_rules"] = body.get("default_rules", True)
        created = self._public_project(project)
        # The create response carries no status (reference §10); reads do.
        created.pop("status", None)
        return 201, created, {}

    @staticmethod
    def _public_project(project: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in project.items() if not k.startswith("_")}

    def _get_project(self, request: Request, body: Any, org: str, project: str) -> tuple[int, Any, dict]:
        return 200, self._public_project(self._project(self._org(org), project, request)), {}

    def _update_project(self, request: Request, body: Any, org: str, project: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        found = self._project(organization, project, request)
        body = body or {}
        errors: dict[str, list[str]] = {}
        if "name" in body and (not isinstance(body["name"], str) or not body["name"] or len(body["name"]) > 200):
            errors["name"] = ["Ensure this field has no more than 200 characters."]
        if "slug" in body:
            new_slug = body["slug"]
            if not isinstance(new_slug, str) or not SLUG_PATTERN.match(new_slug) or len(new_slug) > 100:
                errors["slug"] = ["Enter a valid slug."]
            elif new_slug != found["slug"] and any(p["slug"] == new_slug for p in organization.projects.values()):
                errors["slug"] = [f"Another project ({new_slug}) is already using that slug"]
        for field_name, parse in (("fingerprintingRules", fingerprinting_error), ("groupingEnhancements",
                                                                                  enhancements_error)):
            value = body.get(field_name)
            if field_name in body and value is not None and not isinstance(value, str):
                errors[field_name] = ["Not a valid string."]
            elif isinstance(value, str) and value and (problem := parse(value)):
                errors[field_name] = [problem]
        if errors:
            raise _invalid(errors)
        with self._lock:
            for field_name in ("fingerprintingRules", "groupingEnhancements"):
                # The serializer's CharField trims surrounding whitespace; null leaves the option unchanged.
                if body.get(field_name) is not None:
                    found[field_name] = body[field_name].strip()
            if "slug" in body and body["slug"] != found["slug"]:
                organization.moved_slugs[found["slug"]] = found["id"]
                organization.moved_slugs.pop(body["slug"], None)
                found["slug"] = body["slug"]
            for key in ("name", "platform", "resolveAge", "subjectPrefix", "isBookmarked"):
                if key in body:
                    found[key] = body[key]
        return 200, self._public_project(found), {}

    def _delete_project(self, request: Request, body: Any, org: str, project: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        found = self._project(organization, project, request)
        with self._lock:
            del organization.projects[found["id"]]
            organization.keys.pop(found["id"], None)
            for detector_id in [k for k, d in organization.detectors.items() if d["projectId"] == found["id"]]:
                del organization.detectors[detector_id]
        return 204, None, {}

    def _add_project_team(
        self,
        request: Request,
        body: Any,
        org: str,
        project: str,
        team: str,
    ) -> tuple[int, Any, dict]:
        organization = self._org(org)
        found = self._project(organization, project, request)
        if team not in organization.teams:
            raise _not_found()
        with self._lock:
            if all(t["slug"] != team for t in found["teams"]):
                found["teams"].append(dict(organization.teams[team]))
        return 201, self._public_project(found), {}

    def _remove_project_team(
        self,
        request: Request,
        body: Any,
        org: str,
        project: str,
        team: str,
    ) -> tuple[int, Any, dict]:
        organization = self._org(org)
        found = self._project(organization, project, request)
        with self._lock:
            found["teams"] = [t for t in found["teams"] if t["slug"] != team]
        return 200, self._public_project(found), {}

    # -- performance-issue settings ---------------------------------------------------------------

    def _performance_project(self, request: Request, org: str, project: str) -> dict[str, Any]:
        organization = self._org(org)
        found = self._project(organization, project, request)
        if not organization.performance_view:
            raise FakeError(404, None)
        return found

    def _get_performance_settings(
        self, request: Request, body: Any, org: str, project: str
    ) -> tuple[int, Any, dict]:
        found = self._performance_project(request, org, project)
        return 200, dict(found["_performance"]), {}

    def _update_performance_settings(
        self, request: Request, body: Any, org: str, project: str
    ) -> tuple[int, Any, dict]:
        found = self._performance_project(request, org, project)
        if not isinstance(body, dict) or not body or any(key not in PERFORMANCE_DEFAULTS for key in body):
            # Sentry refuses an empty body or any name it does not know, before looking at values.
            raise FakeError(400, {"detail": "Invalid settings option"})
        if any(key in PERFORMANCE_SUPERUSER_ONLY for key in body):
            raise FakeError(
                403,
                {"detail": {"message": "Passed options are only modifiable internally", "code": "superuser-required"}},
            )
        errors = {key: ["Must be a valid boolean."] for key, value in body.items()
                  if key.endswith("_enabled") and not isinstance(value, bool)}
        if errors:
            raise _invalid(errors)
        with self._lock:
            found["_performance"].update(body)
        # The answer is what was accepted, not the whole settings object.
        return 200, dict(body), {}

    def performance_settings(self, org_slug: str, project_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.orgs[org_slug].projects[project_id]["_performance"])

    # -- client keys -------------------------------------------------------------------------------

    def _make_key(
        self, org: Org, project_id: str, name: str, rate_limit: Any, public: str = "", secret: str = ""
    ) -> dict[str, Any]:
        public, secret = public or secrets.token_hex(16), secret or secrets.token_hex(16)
        host = f"o{org.id}.ingest.us.sentry.io"
        return {
            "id": public,
            "name": name,
            "label": name,
            "public": public,
            "secret": secret,
            "projectId": int(project_id),
            "isActive": True,
            "rateLimit": rate_limit,
            "dsn": {
                "secret": f"https://{public}:{secret}@{host}/{project_id}",
                "public": f"https://{public}@{host}/{project_id}",
                "csp": f"https://{host}/api/{project_id}/csp-report/?sentry_key={public}",
                "security": f"https://{host}/api/{project_id}/security/?sentry_key={public}",
                "minidump": f"https://{host}/api/{project_id}/minidump/?sentry_key={public}",
                "nel": f"https://{host}/api/{project_id}/nel/?sentry_key={public}",
                "unreal": f"https://{host}/api/{project_id}/unreal/{public}/",
                "cdn": f"https://js.sentry-cdn.com/{public}.min.js",
                "crons": f"https://{host}/api/{project_id}/cron/___MONITOR_SLUG___/{public}/",
            },
            "browserSdkVersion": "9.x",
            "browserSdk": {"choices": [["latest", "latest"], ["9.x", "9.x"]]},
            "dateCreated": _now_iso(self.clock),
            "dynamicSdkLoaderOptions": {"hasReplay": True, "hasPerformance": True, "hasDebug": False},
            "useCase": "user",
        }

    @staticmethod
    def _validate_rate_limit(value: Any) -> dict[str, int] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _invalid({"rateLimit": ["Invalid rate limit."]})
        window, count = value.get("window"), value.get("count")
        errors = []
        if not isinstance(window, int) or not 0 < window <= 86400:
            errors.append("window must be between 1 and 86400 seconds")
        if not isinstance(count, int) or count < 0:
            errors.append("count must be a positive integer")
        if errors:
            raise _invalid({"rateLimit": errors})
        return {"window": window, "count": count}

    def _list_keys(self, request: Request, body: Any, org: str, project: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        found = self._project(organization, project, request)
        items = organization.keys.get(found["id"], [])
        status = request.args.get("status")
        if status == "active":
            items = [k for k in items if k["isActive"]]
        elif status == "inactive":
            items = [k for k in items if not k["isActive"]]
        return self._paginate(request, items)

    def _create_key(self, request: Request, body: Any, org: str, project: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        found = self._project(organization, project, request)
        body = body or {}
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 64):
            raise _invalid({"name": ["Ensure this field has no more than 64 characters."]})
        rate_limit = self._validate_rate_limit(body.get("rateLimit"))
        with self._lock:
            key = self._make_key(organization, found["id"], name or "Default", rate_limit)
            organization.keys.setdefault(found["id"], []).append(key)
        return 201, copy.deepcopy(key), {}

    def _key(self, organization: Org, project: dict[str, Any], key_id: str) -> dict[str, Any]:
        for key in organization.keys.get(project["id"], []):
            if key["id"] == key_id:
                return key
        raise _not_found()

    def _get_key(self, request: Request, body: Any, org: str, project: str, key: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        found = self._project(organization, project, request)
        return 200, copy.deepcopy(self._key(organization, found, key)), {}

    def _update_key(
        self,
        request: Request,
        body: Any,
        org: str,
        project: str,
        key: str,
    ) -> tuple[int, Any, dict]:
        organization = self._org(org)
        found = self._key(organization, self._project(organization, project, request), key)
        body = body or {}
        if "name" in body and (not isinstance(body["name"], str) or len(body["name"]) > 64):
            raise _invalid({"name": ["Ensure this field has no more than 64 characters."]})
        rate_limit = self._validate_rate_limit(body.get("rateLimit")) if "rateLimit" in body else None
        with self._lock:
            if "name" in body:
                found["name"] = found["label"] = body["name"]
            if "isActive" in body:
                found["isActive"] = bool(body["isActive"])
            if "rateLimit" in body:
                found["rateLimit"] = rate_limit
        return 200, copy.deepcopy(found), {}

    def _delete_key(
        self,
        request: Request,
        body: Any,
        org: str,
        project: str,
        key: str,
    ) -> tuple[int, Any, dict]:
        organization = self._org(org)
        found_project = self._project(organization, project, request)
        found = self._key(organization, found_project, key)
        with self._lock:
            organization.keys[found_project["id"]].remove(found)
        return 204, None, {}

    # -- detectors ---------------------------------------------------------------------------------

    def _public_detector(self, organization: Org, detector: dict[str, Any]) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in detector.items() if not k.startswith("_")}
        out["workflowIds"] = sorted(
            (w["id"] for w in organization.workflows.values() if detector["id"] in w["detectorIds"]),
            reverse=True,
        )
        return out

    def _list_detectors(self, request: Request, body: Any, org: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        projects = request.args.getlist("project")
        ids = request.args.getlist("id")
        query = request.args.get("query", "")
        wanted_type = None
        type_match = re.search(r"type:(\S+)", query)
        if type_match:
            wanted_type = {"metric": "metric_issue"}.get(type_match.group(1), type_match.group(1))
        free_text = re.sub(r"\w+:\S+", "", query).strip().strip('"').lower()
        items = []
        with self._lock:
            for detector in organization.detectors.values():
                if projects and detector["projectId"] not in projects:
                    continue
                if ids and detector["id"] not in ids:
                    continue
                if wanted_type and detector["type"] != wanted_type:
                    continue
                if free_text and free_text not in detector["name"].lower():
                    continue
                if detector.get("_hidden_lists", 0) > 0:
                    # A brand-new project's default detectors appear a little after the project does.
                    detector["_hidden_lists"] -= 1
                    continue
                items.append(self._public_detector(organization, detector))
        items.sort(key=lambda d: d["name"].lower())
        return self._paginate(request, items)

    def _validate_detector(self, organization: Org, body: dict[str, Any], creating: bool) -> None:
        errors: dict[str, Any] = {}
        if creating or "name" in body:
            name = body.get("name")
            if not isinstance(name, str) or not name:
                errors["name"] = ["This field is required."]
            elif len(name) > 200:
                errors["name"] = ["Ensure this field has no more than 200 characters."]
        if creating:
            if body.get("type") is None:
                errors["type"] = ["This field is required."]
            elif body["type"] != "metric_issue":
                errors["type"] = [f"Detector type not compatible with detectors: {body['type']}"]
            if not body.get("dataSources"):
                errors["dataSources"] = ["This field is required when creating a detector."]
        for source in body.get("dataSources") or []:
            if not isinstance(source, dict) or source.get("timeWindow") not in TIME_WINDOWS:
                errors["dataSources"] = ["Invalid timeWindow"]
            elif not source.get("aggregate") or source.get("dataset") is None:
                errors["dataSources"] = ["aggregate and dataset are required"]
            elif source.get("dataset") == "events_analytics_platform" and source["timeWindow"] < 300:
                # snuba_query_validator.py: spans need a window of at least 5 minutes.
                errors["dataSources"] = {"timeWindow": ["Invalid time window for this dataset."]}
        group = body.get("conditionGroup")
        if group is not None:
            for condition in group.get("conditions", []):
                if condition.get("type") not in DETECTOR_OPERATORS:
                    errors["conditionGroup"] = [f"Invalid condition type {condition.get('type')!r}"]
                elif condition.get("conditionResult") not in PRIORITY_LEVELS or isinstance(
                    condition.get("conditionResult"), bool
                ):
                    errors["conditionGroup"] = [f"Invalid detector priority level: {condition.get('conditionResult')}"]
                elif not isinstance(condition.get("comparison"), int | float):
                    errors["conditionGroup"] = ["A valid number is required."]
        owner = body.get("owner")
        if owner is not None and not re.fullmatch(r"(team|user):\d+", str(owner)):
            errors["owner"] = ["Could not parse actor. Format should be `type:id` where type is `team` or `user`."]
        if errors:
            raise _invalid(errors)

    def _owner(self, organization: Org, owner: str | None) -> dict[str, Any] | None:
        if owner is None:
            return None
        kind, _, ident = owner.partition(":")
        name = next((t["slug"] for t in organization.teams.values() if t["id"] == ident), f"{kind}-{ident}")
        return {"type": kind, "id": ident, "name": name}

    def _snuba_source(self, organization: Org, source: dict[str, Any], existing: dict[str, Any] | None) -> dict:
        query_id = existing["queryObj"]["snubaQuery"]["id"] if existing else self.new_id()
        return {
            "id": existing["id"] if existing else self.new_id(),
            "organizationId": organization.id,
            "type": "snuba_query_subscription",
            "sourceId": existing["sourceId"] if existing else self.new_id(),
            "queryObj": {
                "id": existing["queryObj"]["id"] if existing else self.new_id(),
                "status": 0,
                "subscription": secrets.token_hex(8),
                "snubaQuery": {
                    "id": query_id,
                    "dataset": source["dataset"],
                    "query": source.get("query", ""),
                    "aggregate": source["aggregate"],
                    "timeWindow": source["timeWindow"],
                    "environment": source.get("environment"),
                    "eventTypes": sorted(source.get("eventTypes") or [], reverse=True),
                    "extrapolationMode": source.get("extrapolationMode", "unknown"),
                },
            },
        }

    def _condition_group(self, organization: Org, group: dict[str, Any]) -> dict[str, Any]:
        conditions = [
            {
                "id": self.new_id(),
                "type": c["type"],
                "comparison": c["comparison"],
                "conditionResult": c["conditionResult"],
            }
            for c in group.get("conditions", [])
        ]
        # Sentry hands conditions back in storage order, not the order they were sent in.
        conditions.sort(key=lambda c: (c["conditionResult"], c["type"]))
        return {
            "id": self.new_id(),
            "organizationId": organization.id,
            "logicType": group.get("logicType", "any"),
            "conditions": conditions,
            "actions": [],
        }

    def _create_detector(self, request: Request, body: Any, org: str, project: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        found = self._project(organization, project, request)
        body = body or {}
        if not organization.metric_alerts_enabled:
            # Plans without metric alerts answer 404, not 403.
            raise _not_found()
        self._validate_detector(organization, body, creating=True)
        with self._lock:
            detector_id = self.new_id()
            detector = {
                "id": detector_id,
                "projectId": found["id"],
                "name": body["name"],
                "description": body.get("description"),
                "type": body["type"],
                "workflowIds": [],
                "owner": self._owner(organization, body.get("owner")),
                "createdBy": "1",
                "dateCreated": _now_iso(self.clock),
                "dateUpdated": _now_iso(self.clock),
                "dataSources": [self._snuba_source(organization, s, None) for s in body["dataSources"]],
                "conditionGroup": self._condition_group(organization, body.get("conditionGroup") or {}),
                "config": dict(body.get("config") or {}),
                # Sentry's detector create does not read `enabled` (reference §10): every new monitor is live.
                "enabled": True,
                "alertRuleId": None,
                "ruleId": None,
                "latestGroup": None,
            }
            organization.detectors[detector_id] = detector
            detector["_hidden_lists"] = self.list_lag
            for workflow_id in body.get("workflowIds") or []:
                workflow = organization.workflows.get(str(workflow_id))
                if workflow and detector_id not in workflow["detectorIds"]:
                    workflow["detectorIds"].append(detector_id)
        return 201, self._public_detector(organization, detector), {}

    def _detector(self, organization: Org, detector_id: str) -> dict[str, Any]:
        detector = organization.detectors.get(detector_id)
        if detector is None:
            raise _not_found()
        return detector

    def _get_detector(self, request: Request, body: Any, org: str, id: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        return 200, self._public_detector(organization, self._detector(organization, id)), {}

    def _update_detector(self, request: Request, body: Any, org: str, id: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        detector = self._detector(organization, id)
        body = body or {}
        if "type" in body and body["type"] != detector["type"]:
            raise _invalid({"type": ["Detector type cannot be changed."]})
        self._validate_detector(organization, body, creating=False)
        with self._lock:
            for key in ("name", "description", "enabled"):
                if key in body:
                    detector[key] = body[key]
            if "owner" in body:
                detector["owner"] = self._owner(organization, body["owner"])
            if "config" in body:
                detector["config"] = dict(body["config"] or {})
            if body.get("conditionGroup"):
                detector["conditionGroup"] = self._condition_group(organization, body["conditionGroup"])
            if body.get("dataSources"):
                old = detector["dataSources"] or []
                detector["dataSources"] = [
                    self._snuba_source(organization, s, old[i] if i < len(old) else None)
                    for i, s in enumerate(body["dataSources"])
                ]
            detector["dateUpdated"] = _now_iso(self.clock)
        return 200, self._public_detector(organization, detector), {}

    def _delete_detector(self, request: Request, body: Any, org: str, id: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        detector = self._detector(organization, id)
        if detector["type"] in {"error", "issue_stream"}:
            raise _invalid({"detail": "This monitor cannot be deleted."})
        with self._lock:
            del organization.detectors[id]
            for workflow in organization.workflows.values():
                if id in workflow["detectorIds"]:
                    workflow["detectorIds"].remove(id)
        return 204, None, {}

    # -- workflows ---------------------------------------------------------------------------------

    def _validate_workflow(
        self,
        organization: Org,
        body: dict[str, Any],
        existing: dict[str, Any] | None,
    ) -> None:
        errors: dict[str, Any] = {}
        name = body.get("name")
        if not isinstance(name, str) or not name:
            errors["name"] = ["This field is required."]
        elif len(name) > 256:
            errors["name"] = ["Ensure this field has no more than 256 characters."]
        frequency = (body.get("config") or {}).get("frequency", 30)
        if frequency not in WORKFLOW_FREQUENCIES:
            errors["config"] = {"frequency": [f'"{frequency}" is not a valid choice.']}
        triggers = body.get("triggers") or {"logicType": "any-short", "conditions": []}
        if triggers.get("logicType") not in LOGIC_TYPES:
            errors["triggers"] = {"logicType": ["Invalid logic type"]}
        for condition in triggers.get("conditions", []):
            if condition.get("type") not in TRIGGER_TYPES:
                errors["triggers"] = {"conditions": [f"Invalid condition type: {condition.get('type')}"]}
        own_group_ids = {g["id"] for g in (existing or {}).get("actionFilters", [])}
        own_action_ids = {a["id"] for g in (existing or {}).get("actionFilters", []) for a in g["actions"]}
        for group in body.get("actionFilters") or []:
            if group.get("logicType") not in LOGIC_TYPES:
                errors["actionFilters"] = [{"logicType": ["Invalid logic type"]}]
            if "id" in group and str(group["id"]) not in own_group_ids:
                errors["detail"] = f"Action filter ID {group['id']} does not belong to this workflow"
            for condition in group.get("conditions", []):
                if condition.get("type") not in FILTER_TYPES:
                    errors["actionFilters"] = [{"conditions": [f"Invalid condition type: {condition.get('type')}"]}]
            for action in group.get("actions", []):
                problem = self._action_problem(action, own_action_ids)
                if problem:
                    errors["actionFilters"] = [{"actions": [problem]}]
        for detector_id in body.get("detectorIds") or []:
            if str(detector_id) not in organization.detectors:
                errors["detectorIds"] = [f"Detector {detector_id} does not exist"]
        if existing is None and len(organization.workflows) >= organization.max_workflows:
            errors = {"detail": f"You may not exceed {organization.max_workflows} workflows per organization."}
        if errors:
            raise _invalid(errors)

    def _action_problem(self, action: dict[str, Any], own_action_ids: set[str]) -> Any:
        kind = action.get("type")
        if kind not in ACTION_TYPES:
            return f"Invalid action type: {kind}"
        if "id" in action and str(action["id"]) not in own_action_ids:
            return f"Action ID {action['id']} does not belong to this workflow"
        config = action.get("config") or {}
        if kind in {"slack", "pagerduty", "discord", "msteams", "opsgenie"}:
            if not action.get("integrationId"):
                return f"integrationId is required for {kind} actions"
            if kind == "pagerduty" and not config.get("targetIdentifier"):
                return "targetIdentifier is required for pagerduty actions"
            if kind == "slack":
                return self._slack_problem(config)
        if kind == "pagerduty" and (action.get("data") or {}).get("priority", "default") not in {
            "default",
            "critical",
            "error",
            "warning",
            "info",
        }:
            return "Invalid PagerDuty severity"
        return None

    # -- Slack: Sentry's Slack form resolves the channel on every save ---------------------------------------
    # getsentry/sentry SlackActionValidatorHandler + SlackNotifyServiceForm: `channel` (targetDisplay) is a required
    # field; '#'/'@' are stripped and the name looked up in Slack unless a channel id was sent; the action is stored
    # with targetDisplay = prefix + name and targetIdentifier = the channel id.

    def _slack_problem(self, config: dict[str, Any]) -> Any:
        display = config.get("targetDisplay")
        if not isinstance(display, str) or not display.strip("#@ "):
            return {"config": {"targetDisplay": ["This field is required."]}}
        if not config.get("targetIdentifier") and display.strip().lstrip("#@") in self.missing_slack_channels:
            name = display.strip().lstrip("#@")
            return (
                f'The resource "{name}" does not exist or has not been granted access in the Slack workspace.'
            )
        return None

    def slack_channel_id(self, name: str) -> str:
        """The id Slack gives a channel name (stable per fake, like a real workspace)."""
        with self._lock:
            self.slack_lookups += 1
            if name not in self.slack_channels:
                self.slack_channels[name] = "C" + hashlib.sha256(name.encode()).hexdigest()[:10].upper()
            return self.slack_channels[name]

    def _resolved_slack_config(self, config: dict[str, Any]) -> dict[str, Any]:
        display = config.get("targetDisplay")
        if not isinstance(display, str):
            return config  # only seeded state skips validation
        display = display.strip()
        name = display.lstrip("#@")
        prefix = "@" if display.startswith("@") else "#"
        channel_id = config.get("targetIdentifier") or self.slack_channel_id(name)
        return {**config, "targetDisplay": prefix + name, "targetIdentifier": channel_id}

    def _store_action(self, action: dict[str, Any], existing_id: str | None) -> dict[str, Any]:
        data = dict(action.get("data") or {})
        if action["type"] == "slack":
            data = {"tags": "", "notes": "", **data}
        if action["type"] == "pagerduty":
            data = {"priority": "default", **data}
        config = dict(action.get("config") or {})
        config.setdefault("targetDisplay", None)
        config.setdefault("targetIdentifier", None)
        if action["type"] == "slack":
            config = self._resolved_slack_config(config)
        return {
            "id": existing_id or self.new_id(),
            "type": action["type"],
            "integrationId": None if action.get("integrationId") is None else str(action["integrationId"]),
            "data": data,
            "config": config,
            "status": "active",
        }

    def _store_group(
        self, organization: Org, group: dict[str, Any], existing_id: str | None, existing_actions: set[str]
    ) -> dict[str, Any]:
        return {
            "id": existing_id or self.new_id(),
            "organizationId": organization.id,
            "logicType": group.get("logicType", "any"),
            "conditions": [
                {
                    "id": self.new_id(),
                    "type": c["type"],
                    "comparison": c.get("comparison", True),
                    "conditionResult": c.get("conditionResult", True),
                }
                for c in group.get("conditions", [])
            ],
            # Sentry returns actions newest-first, not in request order.
            "actions": list(
                reversed(
                    [
                        self._store_action(a, str(a["id"]) if "id" in a and str(a["id"]) in existing_actions else None)
                        for a in group.get("actions", [])
                    ]
                )
            ),
        }

    def _store_workflow(
        self,
        organization: Org,
        body: dict[str, Any],
        existing: dict[str, Any] | None,
    ) -> dict[str, Any]:
        now = _now_iso(self.clock)
        existing_action_ids = {a["id"] for g in (existing or {}).get("actionFilters", []) for a in g["actions"]}
        triggers = body.get("triggers") or {"logicType": "any-short", "conditions": []}
        workflow = {
            "id": existing["id"] if existing else self.new_id(),
            "name": body["name"],
            "organizationId": organization.id,
            "createdBy": "1",
            "dateCreated": existing["dateCreated"] if existing else now,
            "dateUpdated": now,
            "triggers": {
                "id": existing["triggers"]["id"] if existing else self.new_id(),
                "organizationId": organization.id,
                "logicType": triggers.get("logicType", "any-short"),
                "conditions": [
                    {
                        "id": self.new_id(),
                        "type": c["type"],
                        "comparison": c.get("comparison", True),
                        "conditionResult": c.get("conditionResult", True),
                    }
                    for c in triggers.get("conditions", [])
                ],
                "actions": [],
            },
            "actionFilters": [
                self._store_group(organization, g, str(g["id"]) if "id" in g else None, existing_action_ids)
                for g in body.get("actionFilters") or []
            ],
            "environment": body.get("environment"),
            "config": {"frequency": (body.get("config") or {}).get("frequency", 30)},
            "detectorIds": (
                [str(d) for d in body["detectorIds"]]
                if "detectorIds" in body and body["detectorIds"] is not None
                else list(existing["detectorIds"])
                if existing
                else []
            ),
            "enabled": body.get("enabled", True),
            "lastTriggered": existing["lastTriggered"] if existing else None,
            "owner": body.get("owner"),
        }
        organization.workflows[workflow["id"]] = workflow
        return workflow

    def _public_workflow(self, workflow: dict[str, Any]) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in workflow.items() if not k.startswith("_")}
        out["detectorIds"] = sorted(out["detectorIds"], reverse=True)
        return out

    def _list_workflows(self, request: Request, body: Any, org: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        ids = request.args.getlist("id")
        projects = request.args.getlist("project")
        query = request.args.get("query", "").strip().lower()
        with self._lock:
            project_ids = {self._project(organization, p)["id"] for p in projects}
            items = []
            for workflow in organization.workflows.values():
                if ids and workflow["id"] not in ids:
                    continue
                if query and query not in workflow["name"].lower():
                    continue
                if workflow.get("_hidden_lists", 0) > 0:
                    workflow["_hidden_lists"] -= 1
                    continue
                if project_ids and not any(
                    organization.detectors.get(d, {}).get("projectId") in project_ids for d in workflow["detectorIds"]
                ):
                    continue
                items.append(self._public_workflow(workflow))
        items.sort(key=lambda w: int(w["id"]))
        return self._paginate(request, items)

    def _create_workflow(self, request: Request, body: Any, org: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        body = body or {}
        with self._lock:
            self._validate_workflow(organization, body, None)
            workflow = self._store_workflow(organization, body, None)
            workflow["_hidden_lists"] = self.list_lag
        return 201, self._public_workflow(workflow), {}

    def _workflow(self, organization: Org, workflow_id: str) -> dict[str, Any]:
        workflow = organization.workflows.get(workflow_id)
        if workflow is None:
            raise _not_found()
        return workflow

    def _get_workflow(self, request: Request, body: Any, org: str, id: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        return 200, self._public_workflow(self._workflow(organization, id)), {}

    def _update_workflow(self, request: Request, body: Any, org: str, id: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        body = body or {}
        with self._lock:
            existing = self._workflow(organization, id)
            self._validate_workflow(organization, body, existing)
            workflow = self._store_workflow(organization, body, existing)
        return 200, self._public_workflow(workflow), {}

    def _delete_workflow(self, request: Request, body: Any, org: str, id: str) -> tuple[int, Any, dict]:
        organization = self._org(org)
        with self._lock:
            self._workflow(organization, id)
            del organization.workflows[id]
        return 204, None, {}


class VirtualClock:
    """Time that moves only when someone sleeps, shared by the fake and the client under test."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)


def running_fake(**kwargs: Any) -> Iterator[FakeSentry]:
    """Generator for a pytest fixture: a started fake, stopped afterwards."""
    fake = FakeSentry(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()


CANARY_TOKEN = "CANARY-sentry-token-7f3a"
ORG = "acme"


def fake_for_tests(monkeypatch: Any, **kwargs: Any) -> Iterator[FakeSentry]:
    """Body of a pytest fixture: a fake with org "acme", env pointing at it, legacy endpoints untouched."""
    from providers.http import forget_rate_limit_state

    forget_rate_limit_state()
    clock = VirtualClock()
    kwargs.setdefault("tokens", {CANARY_TOKEN: FULL_SCOPES})
    fake = FakeSentry(clock=clock.time, **kwargs).start()
    fake.virtual = clock  # type: ignore[attr-defined]
    fake.add_org(ORG, teams=("platform", "payments"))
    forget_adoptions()  # each test is its own deployment
    monkeypatch.setenv("SENTRY_AUTH_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("SENTRY_API_URL", fake.base_url)
    try:
        yield fake
    finally:
        fake.stop()
    assert fake.deprecated_calls == [], "a provider called a deprecated Sentry alert endpoint"


def tuning_for(fake: FakeSentry) -> Any:
    """Provider tuning on the fake's virtual clock (no real sleeping), short timeouts."""
    from providers.sentry_common import ClientTuning

    clock = fake.virtual  # type: ignore[attr-defined]
    return ClientTuning(sleep=clock.sleep, clock=clock.time, timeout=(2.0, 5.0))
