"""Turning what users paste into "organization" into a Gladly API root, or a clear error.

The API token is sent to whatever host this module returns, so it accepts only
``{org}[.{region}].{domain}`` with ``domain`` from a fixed allow-list and every
label a plain DNS label. Anything else (another host, a path, a query, user
info, a port, a fragment) is refused before any request is made.
"""

from __future__ import annotations

import re

from gladly_assets.errors import GladlyConfigError

ALLOWED_DOMAINS: tuple[str, ...] = ("gladly.com", "gladly.qa")

# One DNS label: a-z, 0-9 and hyphens, no leading or trailing hyphen, at most 63 characters.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# A region label as Gladly names them (us-1, us-uat, eu-1): letters, a hyphen, more.
# Requiring the hyphen keeps "myorg.com" from silently becoming myorg.com.gladly.com.
_REGION = re.compile(r"[a-z]+-[a-z0-9]+(?:-[a-z0-9]+)*")
# Characters that may appear in any accepted form (after the scheme); everything else
# (space, ?, #, @, :, _, %, \, ...) is refused outright.
_ALLOWED_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789./-")
_SCHEMES = ("https://", "http://")
_API_PATHS = ("", "/", "/api/v1", "/api/v1/")

ACCEPTED = (
    "an organization name such as 'myorg', optionally with its region ('myorg.us-1'), "
    "or its Gladly URL ('https://myorg.gladly.com', 'myorg.us-1.gladly.com/api/v1')"
)


def check_domain(domain: str) -> str:
    """Return ``domain`` normalised if it is on the allow-list, else raise ``GladlyConfigError``."""
    normalised = domain.strip().lower() if isinstance(domain, str) else ""
    if normalised not in ALLOWED_DOMAINS:
        raise GladlyConfigError(
            f"Gladly domain {_shown(domain)} is not accepted: use one of {', '.join(ALLOWED_DOMAINS)} "
            "(gladly.qa for sandboxes)."
        )
    return normalised


def api_root(organization: str, domain: str = "gladly.com") -> str:
    """``https://{org}[.{region}].{domain}/api/v1`` for what a user typed as the organization.

    Accepts ``myorg``, ``MyOrg``, ``myorg.us-1``, and the organization's URL with or without
    scheme (``http://`` is accepted as a typo but the result is always ``https://``), trailing
    slash or ``/api/v1``. Raises ``GladlyConfigError`` saying what is accepted otherwise.
    """
    domain = check_domain(domain)

    def reject(reason: str) -> GladlyConfigError:
        return GladlyConfigError(
            f"Gladly organization {_shown(organization)} is not accepted: {reason}. "
            f"Accepted: {ACCEPTED}, on domain {domain}."
        )

    if not isinstance(organization, str) or not organization.strip():
        raise reject("it is empty")
    text = organization.strip()
    if not text.isascii():
        raise reject("it contains non-ASCII characters")
    text = text.lower()
    for scheme in _SCHEMES:
        if text.startswith(scheme):
            text = text[len(scheme) :]
            break
    if "://" in text:
        raise reject("only an https:// URL is accepted")
    bad = sorted(set(text) - _ALLOWED_CHARS)
    if bad:
        raise reject(f"it contains {', '.join(repr(c) for c in bad)}")

    host, slash, path = text.partition("/")
    if slash + path not in _API_PATHS:
        raise reject(f"the path {slash + path!r} is not /api/v1")

    labels = host.split(".")
    if any(not label for label in labels):
        raise reject("it has an empty label (two dots in a row, or a leading or trailing dot)")
    domain_labels = domain.split(".")
    if labels[-len(domain_labels) :] == domain_labels:
        labels = labels[: -len(domain_labels)]
    else:
        for other in ALLOWED_DOMAINS:
            if host == other or host.endswith("." + other):
                raise reject(f"it is on {other}, not on the configured domain {domain} (set domain={other!r})")
    if not labels:
        raise reject("it names no organization")
    if len(labels) > 2:
        raise reject(f"{host!r} is not an organization on {domain}")
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise reject(
                f"{label!r} is not a valid host label (a-z, 0-9 and '-', not starting or ending "
                "with '-', at most 63 characters)"
            )
    if len(labels) == 2 and not _REGION.fullmatch(labels[1]):
        raise reject(f"{labels[1]!r} is not a Gladly region such as 'us-1' or 'us-uat'")
    return f"https://{'.'.join(labels)}.{domain}/api/v1"


def _shown(value: object) -> str:
    """``repr`` of a rejected input for an error message, without anything before an ``@``
    (someone may paste ``https://email:token@host``), cut to a sane length."""
    text = value if isinstance(value, str) else str(value)
    if "@" in text:
        text = "***@" + text.rsplit("@", 1)[1]
    if len(text) > 80:
        text = text[:77] + "..."
    return repr(text)
