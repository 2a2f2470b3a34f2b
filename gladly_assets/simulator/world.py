"""The simulated organization: customers, agents and a topic tree, and how they change.

Changes are a pure function of a job's *ordinal* (the order in which the
simulator created the job), so any job's files can be generated lazily, in any
order, and come out byte-identical for the same seed and sequence of calls.
"""

from __future__ import annotations

import base64
import hashlib
import random
import zlib
from dataclasses import dataclass
from typing import Any

from .vocabulary import AGENT_NAMES, INBOXES, LOCALES, QUICK_REPLY_OPTIONS, TOPICS, Locale

# Bump when the generated data changes so that cached files in a data_dir are not reused.
GENERATOR_VERSION = 2


# Share of customers whose profile lacks each field.
_SPARSE_SHARES = (("name", 0.06), ("address", 0.2), ("emailAddresses", 0.1), ("phoneNumbers", 0.12))


def new_id(rng: random.Random) -> str:
    """A Gladly-looking id: 16 random bytes as 22 url-safe base64 characters."""
    return base64.urlsafe_b64encode(rng.getrandbits(128).to_bytes(16, "little"))[:22].decode()


def stable_rng(*parts: object) -> random.Random:
    # random.Random(str) hashes the string with SHA-512: stable across runs,
    # unlike hash(), which PYTHONHASHSEED randomizes.
    return random.Random(":".join(map(str, parts)))


@dataclass(frozen=True)
class _CustomerProfile:
    """What does not change about a customer; ``World.customer`` derives the rest per ordinal."""

    id: str
    locale: Locale
    first_name: str
    name: str
    emails: tuple[str, str]  # primary, and one that comes and goes
    phones: tuple[str, str]
    addresses: tuple[str, str]  # the customer moves back and forth
    external: str  # "single", "multi" or "none": which lookup adaptor generation knows them
    # What the profile lacks (real profiles are sparse: none of these fields is required).
    sparse: frozenset[str]
    external_value: str
    facebook_user_id: str
    # A customer's state changes every `period` ordinals, phase-shifted by `offset`.
    offset: int
    period: int


@dataclass(frozen=True)
class Contact:
    """How a customer is reached in conversations of one job."""

    index: int
    id: str
    first_name: str
    locale: Locale
    email: str
    phone: str
    facebook_user_id: str


class World:
    """An organization's people and topics; ``customer``/``agent``/``topic`` give their state per ordinal."""

    def __init__(self, seed: int, customers: int, agents: int, domain: str) -> None:
        if customers < 1 or agents < 1:
            raise ValueError("customers and agents must be at least 1")
        self.seed = seed
        self.fingerprint = f"v{GENERATOR_VERSION}:{seed}:{customers}:{agents}:{domain}"
        rng = stable_rng(seed, "world")
        self.support_email = f"support@{domain}"
        self.billing_email = f"billing@{domain}"
        self.audit_email = f"audit@{domain}"
        self.carrier_email = "claims@parcel-carrier.example"
        self.company_phone = "+18005550100"
        self.company_sms = "+14155550199"
        self.facebook_page_id = str(rng.randrange(10**14, 10**15))
        self.lookup_adaptor_ids = (new_id(rng), new_id(rng))
        self.automation_ids = tuple(new_id(rng) for _ in range(3))  # routing / auto-close rules
        self.integration_id = new_id(rng)  # the API user posting activities
        self.colleague_id, self.carrier_id = new_id(rng), new_id(rng)  # third parties answering by email
        self._customers = [self._customer_profile(rng, i) for i in range(customers)]
        self._agents = [(new_id(rng), *AGENT_NAMES[i % len(AGENT_NAMES)], i // len(AGENT_NAMES)) for i in range(agents)]
        self._agent_domain = domain
        self._topic_ids = [new_id(rng) for _ in TOPICS]
        self._leaf_topics = [i for i, (_, parent, _) in enumerate(TOPICS) if parent is not None]
        self._customer_cache: dict[tuple[int, int], dict[str, Any]] = {}
        self.quick_reply_option_ids = tuple(new_id(rng) for _ in QUICK_REPLY_OPTIONS)
        self._inboxes = tuple((new_id(rng), name, channels) for name, channels in INBOXES)

    # ----------------------------------------------------------- customers

    def _customer_profile(self, rng: random.Random, index: int) -> _CustomerProfile:
        locale = LOCALES[index % len(LOCALES)]
        first, first_ascii = rng.choice(locale.first_names)
        last, last_ascii = rng.choice(locale.last_names)
        name = f"{last} {first}" if locale.family_name_first else f"{first} {last}"
        local = f"{first_ascii}.{last_ascii}{rng.randrange(1, 99)}"
        emails = (f"{local}@{rng.choice(locale.email_domains)}", f"{first_ascii[0]}{last_ascii}@work.example")
        if index % 11 == 5:  # mixed case: a loader must not treat it as a different address
            emails = (emails[0].title(), emails[1])
        phone_a, phone_b = (
            locale.phone_prefix + "".join(str(rng.randrange(10)) for _ in range(locale.phone_digits)) for _ in range(2)
        )
        address_a, address_b = (rng.choice(locale.addresses).format(n=rng.randrange(1, 300)) for _ in range(2))
        external = ("single", "multi", "none")[index % 3]
        sparse = frozenset(
            field for field, share in _SPARSE_SHARES if rng.random() < share and index != 0
        )  # customer 0 stays complete: every field is seen at least once
        return _CustomerProfile(
            id=new_id(rng),
            locale=locale,
            first_name=first,
            name=name,
            emails=emails,
            phones=(phone_a, phone_b),
            addresses=(address_a, address_b),
            external=external,
            sparse=sparse,
            external_value=f"CUS-{rng.randrange(10**6, 10**7)}",
            facebook_user_id=str(rng.randrange(10**15, 10**16)),
            offset=rng.randrange(7),
            period=rng.randrange(2, 7),
        )

    @property
    def customer_count(self) -> int:
        return len(self._customers)

    def customer(self, index: int, ordinal: int) -> dict[str, Any]:
        """The customer record as a job with this ordinal exports it."""
        key = (index, ordinal)
        cached = self._customer_cache.get(key)
        if cached is not None:
            return cached
        p = self._customers[index]
        version = (ordinal + p.offset) // p.period
        fields = {
            "name": p.name,
            "address": p.addresses[(version // 2) % 2],
            "emailAddresses": [p.emails[0], p.emails[1]] if version % 2 else [p.emails[0]],
            "phoneNumbers": [p.phones[0], p.phones[1]] if version % 3 == 2 else [p.phones[0]],
        }
        record: dict[str, Any] = {"id": p.id} | {k: v for k, v in fields.items() if k not in p.sparse}
        if p.external == "single":
            record["externalCustomerId"] = p.external_value
        elif p.external == "multi":
            ids = {self.lookup_adaptor_ids[0]: p.external_value}
            if version % 2:
                ids[self.lookup_adaptor_ids[1]] = p.external_value.lower().replace("cus-", "cus_")
            record["externalCustomerIds"] = ids
        if len(self._customer_cache) > 100_000:  # bounded: many ordinals x customers in a long demo
            self._customer_cache.clear()
        self._customer_cache[key] = record
        return record

    def contact(self, index: int) -> Contact:
        """How conversations reach the customer: their primary address and number, also
        when the profile does not list them (a customer can write from an unknown address)."""
        p = self._customers[index]
        return Contact(index, p.id, p.first_name, p.locale, p.emails[0], p.phones[0], p.facebook_user_id)

    # ----------------------------------------------------------- agents and topics

    @property
    def agent_count(self) -> int:
        return len(self._agents)

    def agent(self, index: int, ordinal: int) -> dict[str, Any]:
        agent_id, name, local, generation = self._agents[index]
        if generation:  # more agents than names: keep emails unique
            name, local = f"{name} {generation + 1}", f"{local}{generation + 1}"
        if index == 0 and (ordinal // 6) % 2 == 1:  # one agent's name changes every few jobs
            name = f"{name}-Bianchi"
        return {"id": agent_id, "name": name, "emailAddress": f"{local}@{self._agent_domain}"}

    def agent_id(self, index: int) -> str:
        return self._agents[index][0]

    def agents_changed(self, ordinal: int) -> list[int]:
        return [i for i in range(len(self._agents)) if ordinal and self.agent(i, ordinal) != self.agent(i, ordinal - 1)]

    def topic(self, index: int, ordinal: int) -> dict[str, Any]:
        name, parent, disabled = TOPICS[index]
        if name == "Refund" and (ordinal // 5) % 2 == 1:
            name = "Refunds & returns"
        if name.startswith("International") and (ordinal // 4) % 2 == 1:
            disabled = True
        record: dict[str, Any] = {"id": self._topic_ids[index], "name": name, "disabled": disabled}
        if parent is not None:
            record["parentId"] = self._topic_ids[parent]
        return record

    @property
    def topic_count(self) -> int:
        return len(self._topic_ids)

    def topic_id(self, index: int) -> str:
        return self._topic_ids[index]

    def topics_changed(self, ordinal: int) -> list[int]:
        return [i for i in range(len(TOPICS)) if ordinal and self.topic(i, ordinal) != self.topic(i, ordinal - 1)]

    def enabled_leaf_topics(self, ordinal: int) -> list[int]:
        return [i for i in self._leaf_topics if not self.topic(i, ordinal)["disabled"]]

    @property
    def conversation_topics(self) -> list[int]:
        """Leaf topics enabled in every job: a conversation's topics do not depend on which
        job's generation draws them (a conversation spans several jobs)."""
        return [i for i in self._leaf_topics if not any(self.topic(i, o)["disabled"] for o in range(20))]

    # ----------------------------------------------------------- conversations

    def stream_seed(self, *parts: object) -> int:
        """The base of a family of per-conversation random streams (``base + number``)."""
        digest = hashlib.sha256(":".join(map(str, (self.seed, GENERATOR_VERSION, *parts))).encode()).digest()
        return int.from_bytes(digest[:8], "little") << 32

    def inboxes(self) -> list[dict[str, Any]]:
        """The organization's inboxes, ``{id, name, channels}``: one or two per channel."""
        return [{"id": id_, "name": name, "channels": list(channels)} for id_, name, channels in self._inboxes]

    def inbox_of(self, conversation_id: str, channel: str) -> dict[str, Any]:
        """The inbox a conversation of that channel (``content.type``) was routed to, stable per conversation."""
        inboxes = self.inboxes()
        candidates = [inbox for inbox in inboxes if channel in inbox["channels"]] or inboxes
        return candidates[zlib.crc32(conversation_id.encode()) % len(candidates)]
