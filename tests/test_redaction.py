"""Redaction, property-tested: wherever and however a body echoes the credentials, and wherever
it is cut, nothing of the token long enough to matter survives.

The oracle is independent of the redactor: it looks for substrings of the token in the output,
in its percent- and JSON-unescaped forms, and in the bytes that every base64 run of the output
decodes to at every alignment.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import string
from urllib.parse import quote, unquote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gladly_assets.errors import shown
from gladly_assets.resources import GladlyResource
from gladly_assets.resources.redaction import MIN_FRAGMENT, EchoWatch, Redactor

EMAIL = "api@acme.example"
TOKEN_CHARS = string.ascii_letters + string.digits + "-_.~+/="
# What may survive: fewer than MIN_FRAGMENT characters of the token as text; in base64, a run
# shorter than MIN_FRAGMENT characters plus the partial groups at its ends decodes to at most
# this many bytes of it.
MAX_TEXT_SURVIVOR = MIN_FRAGMENT - 1
MAX_BASE64_SURVIVOR = 8
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{4,}")


def pieces(secret: str | bytes, longer_than: int) -> set:
    return {secret[i : i + longer_than + 1] for i in range(len(secret) - longer_than)}


def leaks(output: str, token: str) -> list[str]:
    """What of ``token`` the oracle finds in ``output``."""
    found = []
    texts = [output, unquote(output)]
    with contextlib.suppress(ValueError):
        texts.append(json.loads(f'"{output}"'))
    for text in texts:
        found += [p for p in pieces(token, MAX_TEXT_SURVIVOR) if p in text]
    secrets = pieces(token.encode(), MAX_BASE64_SURVIVOR)
    for run in _BASE64_RUN.findall(output):
        run = run.translate(str.maketrans("-_", "+/"))
        for start in range(4):
            chunk = run[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            try:
                decoded = base64.b64decode(chunk)
            except (binascii.Error, ValueError):
                continue
            found += [repr(p) for p in secrets if p in decoded]
    return found


def encodings(token: str) -> dict[str, str]:
    basic = base64.b64encode(f"{EMAIL}:{token}".encode()).decode()
    return {
        "plain": token,
        "header": f"Authorization: Basic {basic}",
        "urlsafe": base64.urlsafe_b64encode(f"{EMAIL}:{token}".encode()).decode(),
        "percent": quote(token, safe=""),
        "json": json.dumps({"auth": token})[10:-2],
        "token base64": base64.b64encode(token.encode()).decode(),
    }


tokens = st.text(TOKEN_CHARS, min_size=16, max_size=64)
filler = st.text(string.printable + "é€😀", max_size=400)


@st.composite
def echo_in_a_blob(draw: st.DrawFn, token: str) -> str:
    """The credentials inside a bigger base64 blob (a server that base64s the whole request)."""
    before = draw(st.binary(max_size=20))
    after = draw(st.binary(max_size=20))
    return base64.b64encode(before + f"Authorization: {EMAIL}:{token}".encode() + after).decode()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), token=tokens, before=filler, after=filler, how=st.sampled_from(sorted(encodings("x"))))
def test_no_piece_of_the_token_survives_any_echo_or_cut(
    data: st.DataObject, token: str, before: str, after: str, how: str
) -> None:
    echo = encodings(token)[how] if how != "header" or data.draw(st.booleans()) else data.draw(echo_in_a_blob(token))
    body = before + echo + after
    # A cut anywhere: a server's own truncation or a read cap, before the redactor sees the text.
    start = data.draw(st.integers(0, len(body)))
    end = data.draw(st.integers(start, len(body)))
    cut = body[start:end]
    redacted = Redactor(EMAIL, token)(cut)
    assert not leaks(redacted, token), (cut, redacted)
    # What the messages show: redacted, escaped, then clipped at any length.
    limit = data.draw(st.integers(10, 400))
    assert not leaks(shown(cut, Redactor(EMAIL, token), limit), token)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), token=tokens, padding=st.integers(0, 600))
def test_error_detail_cut_at_the_clip_point_leaks_nothing(data: st.DataObject, token: str, padding: int) -> None:
    """The resource's own path: an error body echoing the Authorization header after ``padding``
    characters, shown as the resource shows it (redacted, then cut to 300 characters)."""
    basic = base64.b64encode(f"{EMAIL}:{token}".encode()).decode()
    detail = "." * padding + f" Authorization: Basic {basic} Host: x"
    body = json.dumps({"errors": [{"attr": "", "code": "echo", "detail": detail}]}).encode()
    if data.draw(st.booleans()):
        body = body[: data.draw(st.integers(0, len(body)))]  # the read cap cut it
    gladly = GladlyResource(organization="acme", agent_email=EMAIL, api_token=token)
    message = gladly._error_detail(body)
    assert not leaks(message, token), message
    assert token not in message and basic not in message


def test_examples_of_what_is_redacted() -> None:
    token = "Zx9-SecretToken-Q1w2E3r4"
    redactor = Redactor(EMAIL, token)
    basic = base64.b64encode(f"{EMAIL}:{token}".encode()).decode()
    assert redactor(f"sent {token}!") == "sent ***!"
    assert redactor(f"Authorization: Basic {basic}") == "Authorization: Basic ***"
    assert redactor(f"cut: Basic {basic[:30]}") == "cut: Basic ***"  # an echo cut at the end
    assert redactor(f"{token[-10:]} and more") == "*** and more"  # an echo cut at the start
    assert redactor("HTTP 503 Service Unavailable") == "HTTP 503 Service Unavailable"


def test_the_resource_redacts_retry_after_and_header_echoes() -> None:
    token = "t0k3n-abcdefghijklmnop"
    gladly = GladlyResource(organization="acme", agent_email=EMAIL, api_token=token)
    response = httpx.Response(400, headers={"Content-Type": f"text/html; {token}"})
    assert token[:MIN_FRAGMENT] not in gladly._shown_header(response, "content-type")


@st.composite
def echoing_bodies(draw: st.DrawFn) -> tuple[str, bytes, int | None]:
    """(token, body, where the first echo starts or None): a body holding the token or its
    Basic-auth form, or neither, somewhere among filler bytes."""
    token = draw(tokens)
    needles = [token.encode(), base64.b64encode(f"{EMAIL}:{token}".encode())]
    before, after = draw(st.binary(max_size=300)), draw(st.binary(max_size=300))
    needle = draw(st.sampled_from([*needles, b""]))
    body = before + needle + after
    starts = [at for at in (body.find(n) for n in needles) if at >= 0]
    return token, body, min(starts, default=None)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(echo=echoing_bodies(), data=st.data())
def test_an_echo_is_found_however_the_body_is_cut_and_nothing_before_the_holdback_begins_one(
    echo: tuple[str, bytes, int | None], data: st.DataObject
) -> None:
    """Pieces of any size (a server dripping a byte at a time), and a break after which a new
    attempt resumes: the echo is found once its last byte is in, and the bytes before the last
    ``holdback`` ones, which a download publishes, never begin an echo."""
    token, body, first_echo = echo
    redactor = Redactor(EMAIL, token)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=20)))
    resume_at = data.draw(st.sampled_from([None, *cuts]))
    watch, fed, found_at = EchoWatch(redactor), 0, None
    for start, end in zip([0, *cuts], [*cuts, len(body)], strict=True):
        if start == resume_at:  # a new attempt picks up from the file's last bytes
            watch = EchoWatch(redactor)
            watch.resume(body[:start])
        fed = end
        if watch.echoed_in(body[start:end]):
            found_at = end
            break
        if first_echo is not None:
            assert fed - watch.holdback <= first_echo
    if first_echo is None:
        assert found_at is None
    else:
        assert found_at is not None and found_at >= first_echo
