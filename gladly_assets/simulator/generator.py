"""Seeded, deterministic export files for the Gladly simulator.

A ``World`` is the organization: its customers, agents and topic tree, and how
each of them changes over time. Changes are a pure function of the job's
*ordinal* (the order in which the simulator created the job), so a file can be
generated lazily, in any order, and still come out byte-identical for the same
seed and the same sequence of simulator calls.

``generate_job`` streams one job's files to disk: conversation items first (a
generator of JSON lines, never a list, so a multi-million line file keeps
memory flat), then the customers, agents and topics those items touched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from pathlib import Path

from gladly_assets.tables import TABLES_BY_FILE, TABLES_BY_NAME

from .vocabulary import (
    ACTIVITIES,
    AGENT_NAMES,
    CALL_SUMMARIES,
    LOCALES,
    NOTES,
    QUICK_REPLY_OPTIONS,
    SIDEKICK_REPLIES,
    TOPICS,
    Locale,
)

ITEMS_FILE = TABLES_BY_NAME["conversation_items"].file_name
CUSTOMERS_FILE = TABLES_BY_NAME["customers"].file_name
AGENTS_FILE = TABLES_BY_NAME["agents"].file_name
TOPICS_FILE = TABLES_BY_NAME["topics"].file_name
# Gladly lists a job's files alphabetically.
ALL_FILES: tuple[str, ...] = tuple(sorted(TABLES_BY_FILE))
# The files ``malformed_lines`` corrupts (the large, free-text ones).
MALFORMED_FILES: tuple[str, ...] = (CUSTOMERS_FILE, ITEMS_FILE)
# Average length of the conversation flow in ``_Conversations._plan``; sizes
# exact-count jobs and spreads malformed lines. Measured, not promised.
ITEMS_PER_CONVERSATION = 6.7
# Bump when the output format changes so cached files in a data_dir are not reused.
GENERATOR_VERSION = 1

Mutate = Callable[[str, list], list]


def _make_encoder() -> Callable[[object], str]:
    """Compact UTF-8 JSON. ``JSONEncoder.encode`` rebuilds its C encoder on every
    call; building it once makes encoding ~35% faster, which matters at millions of lines."""
    slow = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
    if c_make_encoder is None:  # interpreters without the C accelerator
        return slow

    def refuse(value: object) -> object:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    fast = c_make_encoder(None, refuse, encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(fast(value, 0))


_encode = _make_encoder()


def new_id(rng: random.Random) -> str:
    """A Gladly-looking id: 16 random bytes as 22 url-safe base64 characters."""
    return base64.urlsafe_b64encode(rng.getrandbits(128).to_bytes(16, "little"))[:22].decode()


def _stable_rng(*parts: object) -> random.Random:
    # random.Random(str) hashes the string with SHA-512: stable across runs,
    # unlike hash(), which PYTHONHASHSEED randomizes.
    return random.Random(":".join(map(str, parts)))


_MILLIS = tuple(f"{ms:03d}Z" for ms in range(1000))


class TimestampFormatter:
    """Epoch milliseconds -> ``2026-11-19T07:15:19.072Z``, several times faster than strftime.

    Caches the text up to the second: a day has 86,400 of them, and an item's
    timestamp is then one dict lookup and one concatenation (hot path).
    """

    def __init__(self) -> None:
        self._seconds: dict[int, str] = {}
        self._minutes: dict[int, str] = {}

    def __call__(self, ms: int) -> str:
        second, millis = divmod(ms, 1000)
        prefix = self._seconds.get(second)
        if prefix is None:
            prefix = self._second(second)
        return prefix + _MILLIS[millis]

    def _second(self, second: int) -> str:
        if len(self._seconds) > 200_000:  # bounded memory for long windows
            self._seconds.clear()
            self._minutes.clear()
        minute, rest = divmod(second, 60)
        minute_prefix = self._minutes.get(minute)
        if minute_prefix is None:
            minute_prefix = datetime.fromtimestamp(minute * 60, timezone.utc).strftime("%Y-%m-%dT%H:%M:")
            self._minutes[minute] = minute_prefix
        prefix = self._seconds[second] = f"{minute_prefix}{rest:02d}."
        return prefix


class IdPool:
    """Gladly-looking ids drawn in batches: one base64 call per 1,024 ids (hot path).

    Every 22 characters of a long base64 string are 16.5 random bytes, so the
    slices look exactly like ``new_id`` ids.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._ids: list[str] = []

    def __call__(self) -> str:
        if not self._ids:
            text = base64.urlsafe_b64encode(self._rng.randbytes(1024 * 33 // 2)).decode()
            self._ids = [text[i : i + 22] for i in range(0, len(text), 22)]
            self._ids.reverse()
        return self._ids.pop()


def to_ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


# --------------------------------------------------------------------------- the organization


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
    def __init__(self, seed: int, customers: int, agents: int, domain: str) -> None:
        if customers < 1 or agents < 1:
            raise ValueError("customers and agents must be at least 1")
        self.seed = seed
        self.fingerprint = f"v{GENERATOR_VERSION}:{seed}:{customers}:{agents}:{domain}"
        rng = _stable_rng(seed, "world")
        self.support_email = f"support@{domain}"
        self.billing_email = f"billing@{domain}"
        self.company_phone = "+18005550100"
        self.company_sms = "+14155550199"
        self.recordings_url = f"https://recordings.{domain}/calls/"
        self.facebook_page_id = str(rng.randrange(10**14, 10**15))
        self.lookup_adaptor_ids = (new_id(rng), new_id(rng))
        self.automation_ids = tuple(new_id(rng) for _ in range(3))  # routing / auto-close rules
        self.integration_ids = tuple(new_id(rng) for _ in range(2))  # API users posting activities
        self._customers = [self._customer_profile(rng, i) for i in range(customers)]
        self._agents = [
            (new_id(rng), *AGENT_NAMES[i % len(AGENT_NAMES)], i // len(AGENT_NAMES)) for i in range(agents)
        ]
        self._agent_domain = domain
        self._topic_ids = [new_id(rng) for _ in TOPICS]
        self._leaf_topics = [i for i, (_, parent, _) in enumerate(TOPICS) if parent is not None]
        self._customer_cache: dict[tuple[int, int], dict] = {}

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
        phones = tuple(
            locale.phone_prefix + "".join(str(rng.randrange(10)) for _ in range(locale.phone_digits)) for _ in range(2)
        )
        addresses = tuple(rng.choice(locale.addresses).format(n=rng.randrange(1, 300)) for _ in range(2))
        external = ("single", "multi", "none")[index % 3]
        return _CustomerProfile(
            id=new_id(rng),
            locale=locale,
            first_name=first,
            name=name,
            emails=emails,
            phones=phones,
            addresses=addresses,
            external=external,
            external_value=f"CUS-{rng.randrange(10**6, 10**7)}",
            facebook_user_id=str(rng.randrange(10**15, 10**16)),
            offset=rng.randrange(7),
            period=rng.randrange(2, 7),
        )

    @property
    def customer_count(self) -> int:
        return len(self._customers)

    def customer(self, index: int, ordinal: int) -> dict:
        """The customer record as a job with this ordinal exports it."""
        key = (index, ordinal)
        cached = self._customer_cache.get(key)
        if cached is not None:
            return cached
        p = self._customers[index]
        version = (ordinal + p.offset) // p.period
        record: dict = {
            "id": p.id,
            "name": p.name,
            "address": p.addresses[(version // 2) % 2],
            "emailAddresses": [p.emails[0], p.emails[1]] if version % 2 else [p.emails[0]],
            "phoneNumbers": [p.phones[0], p.phones[1]] if version % 3 == 2 else [p.phones[0]],
        }
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

    def contact(self, index: int, ordinal: int) -> Contact:
        p = self._customers[index]
        record = self.customer(index, ordinal)
        return Contact(
            index, p.id, p.first_name, p.locale, record["emailAddresses"][0], record["phoneNumbers"][0], p.facebook_user_id
        )

    # ----------------------------------------------------------- agents and topics

    @property
    def agent_count(self) -> int:
        return len(self._agents)

    def agent(self, index: int, ordinal: int) -> dict:
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

    def topic(self, index: int, ordinal: int) -> dict:
        name, parent, disabled = TOPICS[index]
        if name == "Refund" and (ordinal // 5) % 2 == 1:
            name = "Refunds & returns"
        if name.startswith("International") and (ordinal // 4) % 2 == 1:
            disabled = True
        record: dict = {"id": self._topic_ids[index], "name": name, "disabled": disabled}
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


# --------------------------------------------------------------------------- one job


@dataclass(frozen=True)
class JobSpec:
    """Everything that determines a job's files (except the ``mutate`` hook)."""

    job_id: str
    ordinal: int
    start: datetime
    end: datetime
    files: tuple[str, ...] = ALL_FILES
    conversations: int = 20
    conversation_items: int | None = None  # exact count; overrides `conversations`
    malformed_lines: int = 0
    extra_lines: tuple[tuple[str, tuple[bytes, ...]], ...] = ()

    def cache_key(self, world: World) -> str:
        return hashlib.sha256(f"{world.fingerprint}|{self!r}".encode()).hexdigest()[:16]


def generate_job(world: World, spec: JobSpec, directory: Path, mutate: Mutate | None = None) -> dict[str, int]:
    """Write the job's files into ``directory`` (created atomically). Returns records written per file."""
    tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}-{random.getrandbits(32):x}")
    tmp.mkdir(parents=True)
    try:
        counts = _write_files(world, spec, tmp, mutate)
        try:
            tmp.rename(directory)
        except OSError:  # another thread generated it first; identical content
            if not directory.is_dir():
                raise
        return counts
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_files(world: World, spec: JobSpec, directory: Path, mutate: Mutate | None) -> dict[str, int]:
    rng = _stable_rng(world.seed, "job", spec.job_id)
    conversations = _Conversations(world, spec, rng)
    extra = dict(spec.extra_lines)
    counts: dict[str, int] = {}

    def write(file_name: str, records: Iterable, expected: int) -> None:
        if file_name not in spec.files:
            for _ in records:  # still drain: the other files depend on which items exist
                pass
            return
        counts[file_name] = write_jsonl(
            directory / file_name,
            records,
            expected=expected,
            malformed=spec.malformed_lines if file_name in MALFORMED_FILES else 0,
            extra=extra.get(file_name, ()),
            rng=_stable_rng(world.seed, "malformed", spec.job_id, file_name),
            mutate=(lambda records: mutate(file_name, records)) if mutate else None,
        )

    write(ITEMS_FILE, conversations.items(), conversations.expected_items)
    ordinal = spec.ordinal
    customers = [world.customer(i, ordinal) for i in sorted(conversations.customers)]
    write(CUSTOMERS_FILE, customers, len(customers))
    agents = sorted(conversations.agents | set(world.agents_changed(ordinal)))
    write(AGENTS_FILE, [world.agent(i, ordinal) for i in agents], len(agents))
    topics = sorted(conversations.topics | set(world.topics_changed(ordinal)))
    write(TOPICS_FILE, [world.topic(i, ordinal) for i in topics], len(topics))
    return counts


# --------------------------------------------------------------------------- conversations

_CHANNEL_WEIGHTS = (
    ("CHAT_MESSAGE", 30),
    ("EMAIL", 22),
    ("PHONE_CALL", 12),
    ("SMS", 10),
    ("WHATSAPP", 8),
    ("FACEBOOK_MESSAGE", 6),
    ("INSTAGRAM_DIRECT", 6),
    ("VOICEMAIL", 6),
)
# 100 slots so that a channel is one multiply and one index away (hot path).
_CHANNELS = tuple(name for name, weight in _CHANNEL_WEIGHTS for _ in range(weight))

# Steps of a conversation's flow.
ACTIVITY, INBOUND, SIDEKICK, QUICK_REPLY, TOPIC, REPLY, NOTE, CLOSED, REOPENED = range(9)

_LINE = '{"id":"%s","conversationId":"%s","customerId":"%s","timestamp":"%s","initiator":%s%s,"content":%s}'
_CLOSED = _encode({"type": "CONVERSATION_STATUS_CHANGE", "status": "CLOSED"})
_OPEN = _encode({"type": "CONVERSATION_STATUS_CHANGE", "status": "OPEN"})
_QUICK_REPLY_REQUEST = {"quickReply": {"options": [{"label": o, "value": o} for o in QUICK_REPLY_OPTIONS]}}


def _ref(id_: str, type_: str) -> str:
    return _encode({"id": id_, "type": type_})


_ATTACHMENTS = (
    ("image/jpeg", "photo_0193.jpg", 482_113),
    ("application/pdf", "facture-n°2231.pdf", 88_420),
    ("image/heic", "IMG_4411.HEIC", 1_902_337),
)


class _Conversations:
    """Generates one job's conversation items and remembers who and what they touched."""

    def __init__(self, world: World, spec: JobSpec, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.ordinal = spec.ordinal
        self.start_ms = to_ms(spec.start)
        self.end_ms = max(to_ms(spec.end), self.start_ms + 1)
        self.exact = spec.conversation_items
        if self.exact is None:
            self.conversation_count = spec.conversations
            self.expected_items = round(spec.conversations * ITEMS_PER_CONVERSATION)
        else:
            self.conversation_count = max(1, round(self.exact / ITEMS_PER_CONVERSATION))
            self.expected_items = self.exact
        self.ts = TimestampFormatter()
        self.new_id = IdPool(rng)
        self.topic_choices = world.enabled_leaf_topics(self.ordinal) or [0]
        self.contacts = [world.contact(i, self.ordinal) for i in range(world.customer_count)]
        # Who did what, pre-encoded: the line template pastes these in.
        self.agent_refs = [_ref(world.agent_id(i), "AGENT") for i in range(world.agent_count)]
        self.customer_refs = [_ref(c.id, "CUSTOMER") for c in self.contacts]
        self.sidekick = _ref("SIDEKICK_V2", "SYSTEM")  # Gladly's AI
        self.automations = [_ref(i, "AUTOMATION") for i in world.automation_ids]
        self.integrations = [_ref(world.integration_ids[0], "API"), _ref(world.integration_ids[1], "EXTERNAL")]
        self.internal = _ref("ROUTING", "INTERNAL")
        # What the items touched: these go into customers.jsonl, agents.jsonl, topics.jsonl.
        self.customers: set[int] = set()
        self.agents: set[int] = set()
        self.topics: set[int] = set()

    def items(self) -> Iterator[str]:
        """JSON lines (without newline)."""
        if self.exact is None:
            for number in range(self.conversation_count):
                yield from self._conversation(number)
            return
        left, number = self.exact, 0
        while left > 0:
            for line in self._conversation(number, limit=left):
                left -= 1
                yield line
            number += 1

    def _plan(self, channel: str) -> list[int]:
        r = self.rng.random
        plan = [ACTIVITY] if r() < 0.15 else []
        plan.append(INBOUND)
        if channel == "CHAT_MESSAGE" and r() < 0.35:
            plan += [SIDEKICK, QUICK_REPLY]
        if r() < 0.85:
            plan.append(TOPIC)
        live = channel == "PHONE_CALL"  # a call is answered live: the call item carries the responder
        if not live:
            plan.append(REPLY)
        for _ in range(int(r() * 2.6)):
            plan += [INBOUND] if live else [INBOUND, REPLY]
        if r() < 0.4:
            plan.append(NOTE)
        plan.append(CLOSED)
        if r() < 0.15:  # the customer writes again after the close
            plan += [INBOUND, REOPENED] + ([] if live else [REPLY]) + [CLOSED]
        return plan

    def _times(self, number: int, steps: int) -> list[int]:
        r = self.rng.random
        span = self.end_ms - self.start_ms
        # Conversations spread evenly over the window; an exact-count job that
        # needs more conversations than estimated wraps around.
        t = self.start_ms + int(((number + r()) / self.conversation_count) % 1.0 * span)
        times = [t]
        for _ in range(steps - 1):
            t += 2_000 + int(r() ** 2 * 900_000)  # 2 s to 15 min, mostly short
            times.append(t)
        last = times[-1]
        if last >= self.end_ms:  # squeeze the conversation into the window
            first, room = times[0], self.end_ms - 1 - times[0]
            times = [first + (x - first) * room // (last - first) for x in times]
        return times

    def _conversation(self, number: int, limit: int | None = None) -> Iterator[str]:
        """One conversation's items; ``limit`` cuts it short (the window ends mid-conversation)."""
        rng = self.rng
        r = rng.random
        customer = int(len(self.contacts) * r() ** 2)  # a few customers write a lot
        contact = self.contacts[customer]
        agent = int(len(self.agent_refs) * r())
        channel = _CHANNELS[int(r() * len(_CHANNELS))]
        conversation_id = self.new_id()
        session_id = self.new_id()
        order = str(rng.randrange(100_000, 1_000_000))
        plan = self._plan(channel)
        times = self._times(number, len(plan))
        if limit is not None:
            plan = plan[:limit]
        customer_ref = self.customer_refs[customer]
        agent_ref = self.agent_refs[agent]
        added_topic: str | None = None
        self.customers.add(customer)
        for step, ms in zip(plan, times):
            responder = None
            if step == INBOUND:
                initiator, responder = customer_ref, agent_ref
                content = self._inbound(channel, contact, order, session_id, ms)
                if content.get("answeredAt", "") is None:  # a missed call has nobody answering
                    responder = None
            elif step == REPLY:
                initiator, responder = agent_ref, customer_ref
                content = self._reply(channel, contact, order, session_id, ms)
            elif step == TOPIC:
                initiator = agent_ref if r() < 0.8 else self.automations[0]
                topic = self.topic_choices[int(r() * len(self.topic_choices))]
                self.topics.add(topic)
                removed = [added_topic] if added_topic and r() < 0.3 else []
                added_topic = self.world.topic_id(topic)
                content = {"type": "TOPIC_CHANGE", "addedTopicIds": [added_topic], "removedTopicIds": removed}
            elif step == CLOSED:
                initiator = agent_ref if r() < 0.85 else self.automations[1]
                content = _CLOSED
            elif step == REOPENED:
                initiator = self.internal
                content = _OPEN
            elif step == NOTE:
                initiator = agent_ref
                content = {"type": "CONVERSATION_NOTE", "body": NOTES[int(r() * len(NOTES))], "attachments": self._attachments(0.3)}
            elif step == SIDEKICK:
                initiator, responder = self.sidekick, customer_ref
                text = SIDEKICK_REPLIES[int(r() * len(SIDEKICK_REPLIES))].replace("{order}", order)
                content = self._chat(session_id, text, "QUICK_REPLY_REQUEST", _QUICK_REPLY_REQUEST)
            elif step == QUICK_REPLY:
                initiator = customer_ref
                choice = QUICK_REPLY_OPTIONS[int(r() * len(QUICK_REPLY_OPTIONS))]
                content = self._chat(session_id, choice, "QUICK_REPLY_RESPONSE", {"quickReply": {"selected": choice}})
            else:  # ACTIVITY
                initiator = self.integrations[int(r() * 2)]
                content = self._activity(order, ms)
            if initiator is agent_ref or responder is agent_ref:
                self.agents.add(agent)
            # Ids, timestamps and refs are plain ASCII without escapes: paste them,
            # and run only `content` (free text) through the JSON encoder.
            yield _LINE % (
                self.new_id(),
                conversation_id,
                contact.id,
                self.ts(ms),
                initiator,
                "" if responder is None else ',"responder":' + responder,
                content if content.__class__ is str else _encode(content),
            )

    # ----------------------------------------------------------- content by type

    def _text(self, pool: tuple[str, ...], contact: Contact, order: str) -> str:
        return pool[int(self.rng.random() * len(pool))].replace("{order}", order).replace("{first}", contact.first_name)

    def _attachments(self, probability: float = 0.1) -> list[dict]:
        r = self.rng.random
        if r() >= probability:
            return []
        content_type, filename, size = _ATTACHMENTS[int(r() * len(_ATTACHMENTS))]
        return [{"id": self.new_id(), "contentType": content_type, "filename": filename, "fileSize": size}]

    def _chat(self, session_id: str, text: str, message_type: str = "TEXT", data: dict | None = None) -> dict:
        return {
            "type": "CHAT_MESSAGE",
            "sessionId": session_id,
            "content": text,
            "messageType": message_type,
            "attachments": self._attachments(),
            "messageData": data,
        }

    def _inbound(self, channel: str, contact: Contact, order: str, session_id: str, ms: int) -> dict:
        locale = contact.locale
        if channel == "CHAT_MESSAGE":
            return self._chat(session_id, self._text(locale.inbound, contact, order))
        if channel == "EMAIL":
            return self._email(contact.email, [self.world.support_email], self._text(locale.subjects, contact, order), self._text(locale.inbound, contact, order))
        if channel == "PHONE_CALL":
            return self._call(contact.phone, self.world.company_phone, locale, ms)
        if channel == "VOICEMAIL":
            call = self._call(contact.phone, self.world.company_phone, locale, ms)
            return {"type": "VOICEMAIL", **{k: call[k] for k in ("startedAt", "recordingStatus", "recordingUrl", "recordingDuration", "recordingSummary")}}
        return self._message(channel, contact, self._text(locale.inbound, contact, order), inbound=True)

    def _reply(self, channel: str, contact: Contact, order: str, session_id: str, ms: int) -> dict:
        text = self._text(contact.locale.replies, contact, order)
        if channel == "CHAT_MESSAGE":
            return self._chat(session_id, text)
        if channel == "EMAIL":
            return self._email(self.world.support_email, [contact.email], "Re: " + self._text(contact.locale.subjects, contact, order), text)
        if channel == "VOICEMAIL":  # the agent calls back
            return self._call(self.world.company_phone, contact.phone, contact.locale, ms, outbound=True)
        return self._message(channel, contact, text, inbound=False)

    def _email(self, sender: str, to: list[str], subject: str, text: str) -> dict:
        r = self.rng.random
        return {
            "type": "EMAIL",
            "from": sender,
            "to": to,
            "cc": [self.world.billing_email] if r() < 0.1 else [],
            "bcc": [],
            "subject": subject,
            "content": text,
            "attachments": self._attachments(),
        }

    def _message(self, channel: str, contact: Contact, text: str, inbound: bool) -> dict:
        if channel == "SMS":
            sender, receiver = (contact.phone, self.world.company_sms) if inbound else (self.world.company_sms, contact.phone)
            return {"type": "SMS", "from": sender, "to": receiver, "content": text, "attachments": self._attachments()}
        if channel == "FACEBOOK_MESSAGE":
            return {
                "type": "FACEBOOK_MESSAGE",
                "pageId": self.world.facebook_page_id,
                "userId": contact.facebook_user_id,
                "content": text,
                "attachments": self._attachments(),
            }
        return {"type": channel, "content": text, "attachments": self._attachments()}  # INSTAGRAM_DIRECT, WHATSAPP

    def _call(self, sender: str, receiver: str, locale: Locale, ms: int, outbound: bool = False) -> dict:
        r = self.rng.random
        ring = 3_000 + int(r() * 25_000)
        duration = 20 + int(r() * 900)
        missed = not outbound and r() < 0.08
        status = "AVAILABLE" if r() < 0.9 else ("DELETED", "ERROR")[int(r() * 2)]
        available = status == "AVAILABLE" and not missed
        summary = (
            {"status": "COMPLETED", "summary": CALL_SUMMARIES[int(r() * len(CALL_SUMMARIES))], "language": locale.language}
            if available
            else None
        )
        return {
            "type": "PHONE_CALL",
            "from": sender,
            "to": receiver,
            "startedAt": self.ts(ms),
            "answeredAt": None if missed else self.ts(ms + ring),
            "completedAt": self.ts(ms + ring + duration * 1000),
            "recordingStatus": status if not missed else "ERROR",
            "recordingUrl": f"{self.world.recordings_url}{self.new_id()}.mp3" if available else None,
            # Gladly's own examples once show the duration as a string: so do we, sometimes.
            "recordingDuration": (str(duration) if r() < 0.05 else duration) if available else 0,
            "recordingSummary": summary,
        }

    def _activity(self, order: str, ms: int) -> dict:
        r = self.rng.random
        activity_type, title, body, source = ACTIVITIES[int(r() * len(ACTIVITIES))]
        occurred = ms - int(r() * 3_600_000)
        return {
            "type": "CUSTOMER_ACTIVITY",
            "activityType": activity_type,
            "title": title.replace("{order}", order),
            "body": body.replace("{order}", order),
            "sourceName": source,
            "link": {"url": f"https://admin.shop.example/orders/{order}", "text": f"#{order}"},
            "expandByDefault": r() < 0.2,
            "occurredAt": self.ts(occurred),
            "receivedAt": self.ts(ms),
        }


# --------------------------------------------------------------------------- writing JSONL


_NOT_JSON = (
    "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    "ERROR: upstream timed out ☠ (retrying)",
    "id,name,address",
)
_MALFORMED_KINDS = ("not_json", "truncated", "array", "no_id")


def _malformed(kind: str, line: str, rng: random.Random) -> str:
    if kind == "not_json":
        return _NOT_JSON[int(rng.random() * len(_NOT_JSON))]
    if kind == "truncated":
        return line[: max(1, len(line) // 2)]
    if kind == "array":
        return f"[{line}]"
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    without_id = {k: v for k, v in record.items() if k != "id"} if isinstance(record, dict) else {"note": "no id"}
    return _encode(without_id)


def write_jsonl(
    path: Path,
    records: Iterable,
    *,
    expected: int,
    malformed: int = 0,
    extra: Sequence[bytes] = (),
    rng: random.Random | None = None,
    mutate: Callable[[list], list] | None = None,
) -> int:
    """Stream records (objects, or already encoded JSON lines) to ``path`` as UTF-8 JSON lines.

    Returns how many records it wrote (mutate may have made some of them invalid).

    ``malformed`` bad lines are spread evenly (a rotation of not-JSON text, a
    truncated object, an array, an object without ``id``); the last of them is
    the file's final line, truncated and without a trailing newline. ``extra``
    lines go after the records, before that truncated tail.
    """
    rng = rng or random.Random(0)
    if mutate is not None:  # a test hook: small files only, so a list is fine
        # Fresh objects (a JSON round trip): the hook may edit them in place
        # without touching the world's cached records.
        records = mutate([json.loads(r if isinstance(r, str) else _encode(r)) for r in records])
        lines: Iterable[str] = map(_encode, records)
    else:  # the generator's items arrive already encoded
        lines = (r if isinstance(r, str) else _encode(r) for r in records)
    inside = max(0, malformed - 1)  # the last one is the truncated tail
    positions = [max(1, (j + 1) * expected // (inside + 1)) for j in range(inside)]
    written = bad = 0
    last_line = '{"id":"'
    with open(path, "wb") as out:
        buffer: list[str] = []
        for last_line in lines:
            buffer.append(last_line)
            written += 1
            while bad < inside and positions[bad] <= written:
                buffer.append(_malformed(_MALFORMED_KINDS[bad % 4], last_line, rng))
                bad += 1
            if len(buffer) >= 4096:
                out.write(("\n".join(buffer) + "\n").encode())
                buffer.clear()
        for bad in range(bad, inside):  # fewer records than expected: the rest go at the end
            buffer.append(_malformed(_MALFORMED_KINDS[bad % 4], last_line, rng))
        if buffer:
            out.write(("\n".join(buffer) + "\n").encode())
        for raw in extra:
            out.write(raw if raw.endswith(b"\n") else raw + b"\n")
        if malformed > 0:
            out.write(last_line[: max(1, len(last_line) * 3 // 5)].encode())
    return written
