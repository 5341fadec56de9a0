"""Scrubbing of credentials and secret values from vendor text, in every form a vendor can echo them."""

from __future__ import annotations

import base64
import json as jsonlib
from collections.abc import Collection, Mapping
from urllib.parse import quote, quote_plus

from model.patterns import pattern

REDACTED = "[redacted]"
# Shorter strings are not scrubbed: replacing "abc" everywhere would mangle messages and hide nothing.
MIN_SECRET = 4
MIN_SECRET_PART = 8  # a piece cut out of a longer credential (a macaroon body after its fm2_ prefix)
AUTH_SCHEME = pattern(r"[A-Za-z][A-Za-z0-9._~+-]*")  # RFC 9110 auth-scheme (FlyV1 has a digit)
MACAROON_BODY = pattern(r"^fm\w+?_")  # fm1r_, fm1a_, fm2_: the body after the prefix is the secret
PERCENT_ESCAPE = pattern(r"%[0-9A-F]{2}")
# RFC 9110 auth-params after the scheme: PagerDuty sends `Token token=<key>`, so the key alone is `token`'s value.
AUTH_PARAM = pattern(r"""([A-Za-z][A-Za-z0-9._~+-]*)\s*=\s*("[^"]*"|[^,\s]+)""")


def credential_values(headers: Mapping[str, str]) -> list[str]:
    """Each credential header value, its token without the scheme, and each part of a multi-part token."""
    values: list[str] = []
    for value in headers.values():
        values.append(value)
        scheme, _, token = value.strip().partition(" ")
        if not token or not AUTH_SCHEME.fullmatch(scheme):
            token = value.strip()
        values.append(token.strip())
        values.extend(match.group(2).strip('"') for match in AUTH_PARAM.finditer(token))
        if scheme.lower() == "basic":
            values.extend(_basic_parts(token.strip()))
        # Fly joins several macaroons with commas (`fm1r_...,fm2_...`); a vendor may echo just one.
        for part in token.split(","):
            part = part.strip()
            values.append(part)
            bare = MACAROON_BODY.sub("", part)
            if bare != part and len(bare) >= MIN_SECRET_PART:
                values.append(bare)
    return values


def _basic_parts(token: str) -> list[str]:
    try:
        decoded = base64.b64decode(token, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return []
    user, _, password = decoded.partition(":")
    return [decoded, password] if len(user) < MIN_SECRET_PART else [decoded, user, password]


def secret_forms(values: Collection[str]) -> list[str]:
    """Every form in which `values` can come back in a vendor's text: as is, URL-encoded, base64, JSON-escaped.

    Longest first, so a whole token is replaced before any of its parts.
    """
    forms: set[str] = set()
    for value in values:
        if not value or len(value) < MIN_SECRET:
            continue
        encoded = value.encode()
        for form in (
            value,
            quote(value, safe=""),
            quote(value, safe="/:"),
            quote_plus(value, safe=""),
            base64.b64encode(encoded).decode().rstrip("="),
            base64.urlsafe_b64encode(encoded).decode().rstrip("="),
            # JSON quoted inside a message (a double-encoded body): `\/` and `\"` escapes.
            jsonlib.dumps(value)[1:-1],
            jsonlib.dumps(value)[1:-1].replace("/", "\\/"),
        ):
            forms.add(form)
            # Percent-escapes may come back in either case (%2C or %2c).
            forms.add(PERCENT_ESCAPE.sub(lambda m: m.group(0).lower(), form))
    return sorted(forms, key=len, reverse=True)


def scrub(text: str, secrets: Collection[str]) -> str:
    for secret in secret_forms(secrets):
        text = text.replace(secret, REDACTED)
    return text


def scrubbed(text: str | None, forms: list[str], limit: int) -> str | None:
    """`text` with every pre-computed secret form replaced, cut to `limit`; None stays None."""
    if not text:
        return text or None
    for form in forms:
        text = text.replace(form, REDACTED)
    return text[:limit]
