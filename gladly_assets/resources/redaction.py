"""Keeping the API token out of text built from what a server sent.

A server (or a proxy) may echo the request, ``Authorization: Basic base64(email:token)``
included, into an error body, a file or a header, and may cut it anywhere. So the
redactor does not look for the whole secret only: it removes every run of
``MIN_FRAGMENT`` or more characters of any form the secret can take (plain, percent- or
JSON-escaped, base64 of ``email:token`` or of the token at any byte alignment, standard
or URL-safe alphabet), wherever a cut left it. It costs a set lookup per character, so
it runs on error text and job fields, never on file bodies (``Redactor.echoed_in``
checks a chunk of bytes for the whole secret at C speed).
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

# A run this long of any form of the secret is redacted wherever it appears: short enough
# that what survives (at most MIN_FRAGMENT - 1 characters, or a few bytes of base64) says
# next to nothing about the token, long enough that ordinary text (a job id) is almost
# never hit by chance.
MIN_FRAGMENT = 6
MASK = "***"


def _base64_forms(secret: bytes) -> set[str]:
    """``secret`` as it appears inside base64 text, at each of the three byte alignments,
    in both alphabets. Characters that also depend on neighbouring bytes are left out."""
    forms = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret).decode()
        whole = encoded if shift == 0 else encoded[4:]  # the first group mixes in padding bytes
        for text in (whole, whole.rstrip("=")[:-4] if len(whole) > 8 else ""):  # the last group, as
            if text:  # in a bigger blob where more bytes follow
                forms.add(text)
                forms.add(text.translate(str.maketrans("+/", "-_")))
    return forms


def secret_forms(agent_email: str, token: str) -> frozenset[str]:
    """Every text form of the token this module redacts."""
    forms = {
        token,
        quote(token, safe=""),
        quote_plus(token, safe=""),
        json.dumps(token)[1:-1],
        json.dumps(token, ensure_ascii=False)[1:-1],
    }
    for secret in (f"{agent_email}:{token}", token):
        forms |= _base64_forms(secret.encode())
    return frozenset(form for form in forms if form)


class Redactor:
    """``redactor(text)`` is ``text`` with every echo of the secret replaced by ``***``."""

    def __init__(self, agent_email: str, token: str) -> None:
        self._forms = tuple(sorted(secret_forms(agent_email, token), key=len, reverse=True))
        self._grams = frozenset(
            form[i : i + MIN_FRAGMENT] for form in self._forms for i in range(len(form) - MIN_FRAGMENT + 1)
        )
        # Whole forms as bytes, for the chunked check of file bodies.
        self._needles = tuple({token.encode(), base64.b64encode(f"{agent_email}:{token}".encode())} if token else set())

    @property
    def longest_needle(self) -> int:
        return max((len(needle) for needle in self._needles), default=0)

    def __call__(self, text: str) -> str:
        if not self._forms or not text:
            return text
        size = MIN_FRAGMENT
        masked = bytearray(len(text))
        for i in range(len(text) - size + 1):
            if text[i : i + size] in self._grams:
                masked[i : i + size] = b"\1" * size
        if not any(masked):
            return text
        pieces = []
        i = 0
        while i < len(text):
            j = i
            hidden = masked[i]
            while j < len(text) and masked[j] == hidden:
                j += 1
            pieces.append(MASK if hidden else text[i:j])
            i = j
        return "".join(pieces)

    def echoed_in(self, chunk: bytes) -> bool:
        """Whether ``chunk`` holds the whole token or its Basic-auth form (a ``bytes.find``)."""
        return any(needle in chunk for needle in self._needles)


class EchoWatch:
    """Whether a body read piece by piece echoes the secret (``Redactor.echoed_in``), also
    across the pieces' boundaries, however small the pieces (a server may drip a byte at a
    time). No echo starts before the last ``holdback`` bytes of what it has been fed without
    finding one: only those may still turn out to begin one."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self.holdback = max(redactor.longest_needle - 1, 0)
        self._tail = b""  # the last `holdback` bytes fed

    def resume(self, tail: bytes) -> None:
        """Continue a body whose earlier bytes end with ``tail`` (a resumed download)."""
        self._tail = tail[max(0, len(tail) - self.holdback) :]

    def echoed_in(self, piece: bytes) -> bool:
        found = self._redactor.echoed_in(piece) or self._redactor.echoed_in(self._tail + piece[: self.holdback])
        if self.holdback:
            self._tail = (self._tail + piece[-self.holdback :])[-self.holdback :]
        return found
