"""The Sentry project as a dynamic resource: no default alert rule, adopted by slug, renamed in place.

Adoption: `create` takes over the project with the declared slug if one exists (the natural key). The policy's
`adopt.sentry_project` names a hand-made project explicitly (`adopt_slug`): create then takes over exactly that
project, renaming its slug to the declared one if they differ, and fails instead of creating when it does not
exist. `adopt_slug` only steers create; changing or removing it later changes nothing in Sentry.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from providers.http import ApiError
from providers.sentry_common import (
    PROJECT_FIELDS,
    ClientTuning,
    SentryApi,
    SentryProviderError,
    check_slug,
    from_engine,
    kept_for_its_adopter,
    look_again,
    may_have_taken_effect,
    project_ref,
    record_adoption,
    record_creation,
    unproven_create,
)

INPUT_KEYS = ("organization", "team", "slug", "name", "platform")
OUTPUT_ONLY_KEYS = ("project_id", "status", "teams", "date_created", "adopted")
MAX_NAME_ON_CREATE = 50
LEDGER_KIND = "project"


def _normalise(props: dict[str, Any]) -> dict[str, Any]:
    platform = props.get("platform")
    # Present only when declared, so a project without an adopt entry has exactly the inputs it always had.
    adoption = {"adopt_slug": props["adopt_slug"]} if props.get("adopt_slug") else {}
    return {
        **adoption,
        "organization": props.get("organization"),
        "team": props.get("team"),
        "slug": props.get("slug"),
        "name": props.get("name").strip() if isinstance(props.get("name"), str) else props.get("name"),
        "platform": platform.strip().lower() if isinstance(platform, str) and platform.strip() else None,
    }


def _outputs(inputs: dict[str, Any], project: dict[str, Any], *, adopted: bool) -> dict[str, Any]:
    return {
        **inputs,
        "slug": project["slug"],
        "name": project["name"],
        "platform": project.get("platform"),
        "project_id": str(project["id"]),
        # Sentry's create response carries no status; a project it has just created is active.
        "status": project.get("status") or "active",
        "teams": sorted(t["slug"] for t in project.get("teams") or []),
        "date_created": project.get("dateCreated"),
        "adopted": adopted,
    }


class SentryProjectProvider(dynamic.ResourceProvider):
    """CRUD for one Sentry project, addressed by its numeric id once known (slugs can change)."""

    def __init__(self, tuning: ClientTuning | None = None) -> None:
        super().__init__()
        self.tuning = tuning

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        news = from_engine(news)
        inputs = _normalise(news)
        failures: list[tuple[str, str]] = []
        check_slug(inputs["organization"], "organization", failures)
        check_slug(inputs["team"], "team", failures)
        check_slug(inputs["slug"], "slug", failures)
        if "adopt_slug" in inputs:
            check_slug(inputs["adopt_slug"], "adopt_slug", failures)
        name = inputs["name"]
        if not isinstance(name, str) or not name:
            failures.append(("name", "name is required"))
        elif len(name) > MAX_NAME_ON_CREATE:
            failures.append(("name", f"name must be at most {MAX_NAME_ON_CREATE} characters (Sentry's create limit)"))
        return dynamic.CheckResult(inputs, [dynamic.CheckFailure(p, r) for p, r in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        olds, news = from_engine(olds), from_engine(news)
        old, new = _normalise(olds), _normalise(news)
        changed = [key for key in INPUT_KEYS if old[key] != new[key]]
        # A project cannot move between organisations; all else (the slug too) is edited in place.
        replaces = [key for key in changed if key == "organization"]
        return dynamic.DiffResult(
            changes=bool(changed),
            replaces=replaces,
            stables=["organization", "project_id", "date_created"],
            delete_before_replace=False,
        )

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        props = from_engine(props)
        inputs = _normalise(props)
        api = SentryApi(self.tuning)
        organization, slug = inputs["organization"], inputs["slug"]
        if inputs.get("adopt_slug"):
            return self._adopt_named(api, inputs)
        existing = project_ref(api, organization, slug)
        adopted = existing is not None
        if existing is None:
            body = {
                "name": inputs["name"],
                "slug": slug,
                "platform": inputs["platform"],
                # Without this Sentry adds an "alert on every new issue" rule; it only works on create.
                "default_rules": False,
            }
            failure: ApiError | None = None
            try:
                created = api.send(
                    "POST",
                    f"teams/{organization}/{inputs['team']}/projects/",
                    body,
                    tolerate=(409,),
                    resource=f"project {slug!r}",
                    required=PROJECT_FIELDS,
                )
            except ApiError as error:
                if not may_have_taken_effect(error):
                    raise
                failure, created = error, None
            if created is not None:
                record_creation(LEDGER_KIND, created["id"])
                return dynamic.CreateResult(str(created["id"]), _outputs(inputs, created, adopted=False))
            # Ambiguous failure or 409: the slug is the natural key, so look before ever sending again.
            existing, looks = look_again(api, lambda: project_ref(api, organization, slug))
            if existing is None:
                if failure is None:
                    raise SentryProviderError(
                        f"Sentry says the slug {slug!r} is taken in {organization!r} (409), but no project answers "
                        "to it: a project with this slug may still be pending deletion; wait for Sentry to finish "
                        "deleting it, or choose another slug"
                    )
                raise unproven_create(
                    failure, f"a project with slug {slug!r}", f"GET projects/{organization}/{slug}/", looks
                ) from None
            # After a 409 the project is somebody's that appeared meanwhile; after an ambiguous failure it is ours.
            adopted = failure is None
        if adopted:
            record_adoption(LEDGER_KIND, existing["id"], f"project {slug!r} ({existing['id']})")
        record_creation(LEDGER_KIND, existing["id"])
        project = self._converge(api, inputs, existing)
        return dynamic.CreateResult(str(project["id"]), _outputs(inputs, project, adopted=adopted))

    def _adopt_named(self, api: SentryApi, inputs: dict[str, Any]) -> dynamic.CreateResult:
        """`adopt.sentry_project`: take over exactly the named hand-made project, or fail; never create."""
        organization, named = inputs["organization"], inputs["adopt_slug"]
        existing = project_ref(api, organization, named)
        if existing is None and named != inputs["slug"]:
            # A rerun after an interrupted take-over: the project may already carry the declared slug.
            existing = project_ref(api, organization, inputs["slug"])
        if existing is None:
            raise SentryProviderError(
                f"adopt.sentry_project names Sentry project {named!r}, which does not exist in {organization!r}: "
                "correct the slug (Settings > Projects) or remove the entry to let the estate create the project"
            )
        record_adoption(LEDGER_KIND, existing["id"], f"project {named!r} ({existing['id']})")
        project = self._converge(api, inputs, existing)
        return dynamic.CreateResult(str(project["id"]), _outputs(inputs, project, adopted=True))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        props = from_engine(props)
        organization = props.get("organization")
        if not organization:
            raise SentryProviderError("reading a Sentry project needs its organization in the resource inputs")
        api = SentryApi(self.tuning)
        project = api.get(f"projects/{organization}/{id_}/", resource=f"project {id_}", required=PROJECT_FIELDS)
        if project is None:
            return dynamic.ReadResult(None, {})
        team_slugs = sorted(t["slug"] for t in project.get("teams") or [])
        team = props.get("team") if props.get("team") in team_slugs else (team_slugs[0] if team_slugs else None)
        inputs = _normalise(
            {
                "organization": organization,
                "team": team,
                "slug": project["slug"],
                "name": project["name"],
                "platform": project.get("platform"),
                "adopt_slug": props.get("adopt_slug"),
            }
        )
        outs = _outputs(inputs, project, adopted=bool(props.get("adopted", False)))
        return dynamic.ReadResult(str(project["id"]), outs, inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        olds, news = from_engine(olds), from_engine(news)
        inputs = _normalise(news)
        api = SentryApi(self.tuning)
        current = api.get(
            f"projects/{inputs['organization']}/{id_}/", resource=f"project {id_}", required=PROJECT_FIELDS
        )
        if current is None:
            raise SentryProviderError(f"Sentry project {id_} no longer exists; refresh to drop it from state")
        project = self._converge(api, inputs, current, old_team=olds.get("team"))
        return dynamic.UpdateResult(_outputs(inputs, project, adopted=bool(olds.get("adopted", False))))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        props = from_engine(props)
        if kept_for_its_adopter(LEDGER_KIND, id_, f"project {id_}"):
            return
        api = SentryApi(self.tuning)
        # Deletion is asynchronous in Sentry; a 404 means it is already gone.
        api.send("DELETE", f"projects/{props['organization']}/{id_}/", tolerate=(404,), resource=f"project {id_}")

    @staticmethod
    def _converge(
        api: SentryApi, inputs: dict[str, Any], project: dict[str, Any], *, old_team: str | None = None
    ) -> dict[str, Any]:
        organization, project_id = inputs["organization"], str(project["id"])
        changes = {
            key: inputs[key]
            for key in ("name", "slug", "platform")
            if inputs[key] is not None and project.get(key) != inputs[key]
        }
        if changes:
            # Numeric id in the path: after a slug rename the old slug only answers with a redirect.
            project = api.send(
                "PUT",
                f"projects/{organization}/{project_id}/",
                changes,
                resource=f"project {project_id}",
                required=PROJECT_FIELDS,
            )
        team_slugs = {t["slug"] for t in project.get("teams") or []}
        if inputs["team"] not in team_slugs:
            project = api.send(
                "POST",
                f"projects/{organization}/{project_id}/teams/{inputs['team']}/",
                resource=f"project {project_id}",
                required=PROJECT_FIELDS,
            )
            if old_team and old_team != inputs["team"] and old_team in team_slugs:
                api.send("DELETE", f"projects/{organization}/{project_id}/teams/{old_team}/", tolerate=(404,))
                project = (
                    api.get(
                        f"projects/{organization}/{project_id}/",
                        resource=f"project {project_id}",
                        required=PROJECT_FIELDS,
                    )
                    or project
                )
        return project


class SentryProject(dynamic.Resource, module="sentry", name="Project"):
    """A Sentry project owned by one team; protect it in components (its id carries issues and the DSN)."""

    organization: pulumi.Output[str]
    team: pulumi.Output[str]
    slug: pulumi.Output[str]
    name: pulumi.Output[str]
    platform: pulumi.Output[str | None]
    project_id: pulumi.Output[str]
    status: pulumi.Output[str]
    teams: pulumi.Output[list[str]]
    date_created: pulumi.Output[str]
    adopted: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        organization: pulumi.Input[str],
        team: pulumi.Input[str],
        slug: pulumi.Input[str],
        name: pulumi.Input[str],
        platform: pulumi.Input[str] = "elixir",
        adopt_slug: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "organization": organization,
            "team": team,
            "slug": slug,
            "name": name,
            "platform": platform,
            "adopt_slug": adopt_slug,
            **dict.fromkeys(OUTPUT_ONLY_KEYS),
        }
        super().__init__(SentryProjectProvider(), resource_name, props, opts)
