"""What users paste as the organization: the forms accepted and everything refused."""

from __future__ import annotations

import pytest

from gladly_assets.errors import GladlyConfigError
from gladly_assets.resources import GladlyResource, api_root

ACCEPTED = [
    ("myorg", "gladly.com", "https://myorg.gladly.com/api/v1"),
    ("MyOrg", "gladly.com", "https://myorg.gladly.com/api/v1"),
    ("  myorg  ", "gladly.com", "https://myorg.gladly.com/api/v1"),
    ("my-org2", "gladly.com", "https://my-org2.gladly.com/api/v1"),
    ("https://myorg.gladly.com", "gladly.com", "https://myorg.gladly.com/api/v1"),
    ("https://myorg.gladly.com/", "gladly.com", "https://myorg.gladly.com/api/v1"),
    ("HTTPS://MyOrg.Gladly.com/API/v1", "gladly.com", "https://myorg.gladly.com/api/v1"),
    ("myorg.gladly.com", "gladly.com", "https://myorg.gladly.com/api/v1"),
    ("myorg.gladly.com/api/v1", "gladly.com", "https://myorg.gladly.com/api/v1"),
    ("myorg.gladly.com/api/v1/", "gladly.com", "https://myorg.gladly.com/api/v1"),
    ("myorg.us-1", "gladly.com", "https://myorg.us-1.gladly.com/api/v1"),
    ("myorg.eu-1", "gladly.com", "https://myorg.eu-1.gladly.com/api/v1"),
    ("myorg.us-1.gladly.com", "gladly.com", "https://myorg.us-1.gladly.com/api/v1"),
    ("https://myorg.us-1.gladly.com/api/v1/", "gladly.com", "https://myorg.us-1.gladly.com/api/v1"),
    ("myorg.us-uat", "gladly.qa", "https://myorg.us-uat.gladly.qa/api/v1"),
    ("https://myorg.us-uat.gladly.qa/api/v1", "gladly.qa", "https://myorg.us-uat.gladly.qa/api/v1"),
    ("myorg", "GLADLY.QA", "https://myorg.gladly.qa/api/v1"),
    # http:// is taken as a typo for the same host; the token still only travels over https.
    ("http://myorg.gladly.com", "gladly.com", "https://myorg.gladly.com/api/v1"),
    ("a" * 63, "gladly.com", f"https://{'a' * 63}.gladly.com/api/v1"),
]

REJECTED = [
    # (input, domain, words the message must contain)
    ("evil.com/x", "gladly.com", "/x"),
    ("evil.com", "gladly.com", "region"),
    ("myorg.us-1.extra", "gladly.com", "not an organization"),
    ("myorg.gladly.com.evil.com", "gladly.com", "not an organization"),
    ("a b", "gladly.com", "' '"),
    ("org?x=1", "gladly.com", "'?'"),
    ("user@host", "gladly.com", "'@'"),
    ("https://me:token@myorg.gladly.com", "gladly.com", "'@'"),
    ("org#x", "gladly.com", "'#'"),
    ("myorg.gladly.com:8443", "gladly.com", "':'"),
    ("my_org", "gladly.com", "'_'"),
    ("myorg.gladly.com/api/v2", "gladly.com", "/api/v2"),
    ("myorg.gladly.com/other", "gladly.com", "/other"),
    ("ftp://myorg.gladly.com", "gladly.com", "https://"),
    ("myorg.gladly.qa", "gladly.com", "gladly.qa"),
    ("https://myorg.us-uat.gladly.qa", "gladly.com", "gladly.qa"),
    ("myorg.us-1.gladly.com", "gladly.qa", "gladly.com"),
    ("", "gladly.com", "empty"),
    ("   ", "gladly.com", "empty"),
    ("gladly.com", "gladly.com", "no organization"),
    ("https://gladly.com/api/v1", "gladly.com", "no organization"),
    ("-myorg", "gladly.com", "valid host label"),
    ("myorg-", "gladly.com", "valid host label"),
    ("a" * 64, "gladly.com", "63"),
    ("myorg..gladly.com", "gladly.com", "empty label"),
    ("myorg.", "gladly.com", "empty label"),
    ("myörg", "gladly.com", "non-ASCII"),
    ("myorg\u212a", "gladly.com", "non-ASCII"),  # KELVIN SIGN lowercases to an ASCII 'k'
]


@pytest.mark.parametrize(("organization", "domain", "expected"), ACCEPTED)
def test_accepted_forms(organization: str, domain: str, expected: str) -> None:
    assert api_root(organization, domain) == expected


@pytest.mark.parametrize(("organization", "domain", "reason"), REJECTED)
def test_rejected_forms_say_what_is_accepted(organization: str, domain: str, reason: str) -> None:
    with pytest.raises(GladlyConfigError) as raised:
        api_root(organization, domain)
    message = str(raised.value)
    assert reason in message
    assert "Accepted:" in message and "myorg.us-1" in message


def test_surrounding_whitespace_is_trimmed_not_rejected() -> None:
    assert api_root("myorg\n") == "https://myorg.gladly.com/api/v1"


@pytest.mark.parametrize("domain", ["evil.com", "gladly.com.evil.com", "gladly", "", "gladly.co"])
def test_domain_is_an_allow_list(domain: str) -> None:
    with pytest.raises(GladlyConfigError, match=r"gladly\.com, gladly\.qa"):
        api_root("myorg", domain)


def test_userinfo_is_not_echoed() -> None:
    with pytest.raises(GladlyConfigError) as raised:
        api_root("https://agent@example.com:s3cr3t-token@myorg.gladly.com")
    assert "s3cr3t-token" not in str(raised.value)
    assert "agent@example.com" not in str(raised.value)


def test_resource_validates_before_any_request() -> None:
    # An unroutable answer would hang or fail differently: the error must come from validation.
    resource = GladlyResource(organization="evil.com/x", agent_email="a@example.com", api_token="tok-123456")
    with pytest.raises(GladlyConfigError):
        resource.list_jobs()
    with pytest.raises(GladlyConfigError):
        GladlyResource(
            organization="myorg", agent_email="a@example.com", api_token="tok-123456", domain="evil.com"
        ).list_jobs()
    assert resource._client is None  # no client, so no connection, was ever made
