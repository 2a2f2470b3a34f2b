"""One export job's files, generated from the seeded ``World``.

``generate_job`` streams a job's files to disk: conversation items first (a
generator of JSON lines, never a list, so a multi-million line file keeps
memory flat), then the customers, agents and topics those items touched.
Conversations flow as in life: a customer writes on some channel, an agent (or
Gladly's AI) answers, topics are set, notes taken, the conversation is closed
and sometimes reopened.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gladly_assets.tables import TABLES_BY_FILE, TABLES_BY_NAME

from .jsonl_writer import encode, write_jsonl
from .vocabulary import ACTIVITIES, CALL_SUMMARIES, NOTES, QUICK_REPLY_OPTIONS, SIDEKICK_REPLIES, Locale
from .world import Contact, World, stable_rng

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

# The complete_job test hook: (file_name, records) -> records to write.
Mutate = Callable[[str, list[Any]], list[Any]]


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
            minute_prefix = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")
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
    rng = stable_rng(world.seed, "job", spec.job_id)
    conversations = _Conversations(world, spec, rng)
    extra = dict(spec.extra_lines)
    counts: dict[str, int] = {}

    def write(file_name: str, records: Iterable[Any], expected: int) -> None:
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
            rng=stable_rng(world.seed, "malformed", spec.job_id, file_name),
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
_CLOSED = encode({"type": "CONVERSATION_STATUS_CHANGE", "status": "CLOSED"})
_OPEN = encode({"type": "CONVERSATION_STATUS_CHANGE", "status": "OPEN"})
_QUICK_REPLY_REQUEST = {"quickReply": {"options": [{"label": o, "value": o} for o in QUICK_REPLY_OPTIONS]}}


def _ref(id_: str, type_: str) -> str:
    return encode({"id": id_, "type": type_})


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
        content: dict[str, Any] | str
        self.customers.add(customer)
        for step, ms in zip(plan, times, strict=False):
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
                content = {
                    "type": "CONVERSATION_NOTE",
                    "body": NOTES[int(r() * len(NOTES))],
                    "attachments": self._attachments(0.3),
                }
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
                content if isinstance(content, str) else encode(content),
            )

    # ----------------------------------------------------------- content by type

    def _text(self, pool: tuple[str, ...], contact: Contact, order: str) -> str:
        return pool[int(self.rng.random() * len(pool))].replace("{order}", order).replace("{first}", contact.first_name)

    def _attachments(self, probability: float = 0.1) -> list[dict[str, Any]]:
        r = self.rng.random
        if r() >= probability:
            return []
        content_type, filename, size = _ATTACHMENTS[int(r() * len(_ATTACHMENTS))]
        return [{"id": self.new_id(), "contentType": content_type, "filename": filename, "fileSize": size}]

    def _chat(
        self, session_id: str, text: str, message_type: str = "TEXT", data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {
            "type": "CHAT_MESSAGE",
            "sessionId": session_id,
            "content": text,
            "messageType": message_type,
            "attachments": self._attachments(),
            "messageData": data,
        }

    def _inbound(self, channel: str, contact: Contact, order: str, session_id: str, ms: int) -> dict[str, Any]:
        locale = contact.locale
        if channel == "CHAT_MESSAGE":
            return self._chat(session_id, self._text(locale.inbound, contact, order))
        if channel == "EMAIL":
            return self._email(
                contact.email,
                [self.world.support_email],
                self._text(locale.subjects, contact, order),
                self._text(locale.inbound, contact, order),
            )
        if channel == "PHONE_CALL":
            return self._call(contact.phone, self.world.company_phone, locale, ms)
        if channel == "VOICEMAIL":
            call = self._call(contact.phone, self.world.company_phone, locale, ms)
            return {
                "type": "VOICEMAIL",
                **{
                    k: call[k]
                    for k in ("startedAt", "recordingStatus", "recordingUrl", "recordingDuration", "recordingSummary")
                },
            }
        return self._message(channel, contact, self._text(locale.inbound, contact, order), inbound=True)

    def _reply(self, channel: str, contact: Contact, order: str, session_id: str, ms: int) -> dict[str, Any]:
        text = self._text(contact.locale.replies, contact, order)
        if channel == "CHAT_MESSAGE":
            return self._chat(session_id, text)
        if channel == "EMAIL":
            return self._email(
                self.world.support_email,
                [contact.email],
                "Re: " + self._text(contact.locale.subjects, contact, order),
                text,
            )
        if channel == "VOICEMAIL":  # the agent calls back
            return self._call(self.world.company_phone, contact.phone, contact.locale, ms, outbound=True)
        return self._message(channel, contact, text, inbound=False)

    def _email(self, sender: str, to: list[str], subject: str, text: str) -> dict[str, Any]:
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

    def _message(self, channel: str, contact: Contact, text: str, inbound: bool) -> dict[str, Any]:
        if channel == "SMS":
            sender, receiver = (
                (contact.phone, self.world.company_sms) if inbound else (self.world.company_sms, contact.phone)
            )
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

    def _call(self, sender: str, receiver: str, locale: Locale, ms: int, outbound: bool = False) -> dict[str, Any]:
        r = self.rng.random
        ring = 3_000 + int(r() * 25_000)
        duration = 20 + int(r() * 900)
        missed = not outbound and r() < 0.08
        status = "AVAILABLE" if r() < 0.9 else ("DELETED", "ERROR")[int(r() * 2)]
        available = status == "AVAILABLE" and not missed
        summary = (
            {
                "status": "COMPLETED",
                "summary": CALL_SUMMARIES[int(r() * len(CALL_SUMMARIES))],
                "language": locale.language,
            }
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

    def _activity(self, order: str, ms: int) -> dict[str, Any]:
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
