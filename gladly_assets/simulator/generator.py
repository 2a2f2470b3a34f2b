"""One export job's files, generated from the seeded ``World``.

``generate_job`` streams a job's files to disk: conversation items first (a
generator of JSON lines, never a list, so a multi-million line file keeps
memory flat), then the customers, agents and topics those items touched.

Conversations belong to *slots*, the schedule's periods (``jobs.Schedule``):
slot k's conversations start inside it, and each one is drawn from its own
random stream, seeded by (seed, slot, number). Its plan (customer, channel,
steps, times, ids) comes first, then its contents in order. A job emits every
item, of every conversation of the slots its ``JobSpec`` lists, whose timestamp
falls in its window. So a conversation begun in one window continues, or is
reopened, in the jobs of later windows with the same ids; an overlapping window
repeats the items it shares with its neighbour, and a gap between windows
loses its items, as at Gladly. The oldest jobs hold items of conversations that
began before the 14-day horizon.

Conversations flow as in life: a customer writes, calls or leaves a voicemail;
an automation, Gladly's AI (Sidekick, voice AI) or nobody at all answers first;
an agent replies (or never does), topics are set and changed, notes taken; the
conversation is closed (or left open) and sometimes reopened hours or days
later. A few items belong to no conversation (activities posted through the
API), a few have no initiator, and now and then a content type appears that the
export documentation does not list (``VOICE_AI_MESSAGE``, legacy ``TWITTER``).

Exact-count jobs (``conversation_items``, for stress tests and benchmarks) keep
their own conversations inside their window instead, so that the count holds.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gladly_assets.tables import TABLES_BY_FILE, TABLES_BY_NAME

from .jsonl_writer import encode, write_jsonl
from .vocabulary import (
    ACTIVITIES,
    AUTO_REPLIES,
    CALL_SUMMARIES,
    NOTES,
    QUICK_REPLY_OPTIONS,
    SIDEKICK_REPLIES,
    THIRD_PARTY_REPLIES,
    VOICE_AI_LINES,
)
from .world import Contact, World, stable_rng

ITEMS_FILE = TABLES_BY_NAME["conversation_items"].file_name
CUSTOMERS_FILE = TABLES_BY_NAME["customers"].file_name
AGENTS_FILE = TABLES_BY_NAME["agents"].file_name
TOPICS_FILE = TABLES_BY_NAME["topics"].file_name
# Gladly lists a job's files alphabetically.
ALL_FILES: tuple[str, ...] = tuple(sorted(TABLES_BY_FILE))
# The files ``malformed_lines`` corrupts (the large, free-text ones).
MALFORMED_FILES: tuple[str, ...] = (CUSTOMERS_FILE, ITEMS_FILE)
# Average items per conversation; sizes exact-count jobs and spreads malformed lines. Measured, not promised.
ITEMS_PER_CONVERSATION = 7.4
# How long after its start a conversation can still have items (a reopen comes at most
# two days later): a job looks this far back for conversations reaching into its window.
CONVERSATION_HORIZON = timedelta(days=3)
_HORIZON_MS = int(CONVERSATION_HORIZON.total_seconds() * 1000)

# The complete_job test hook: (file_name, records) -> records to write.
Mutate = Callable[[str, list[Any]], list[Any]]


# --------------------------------------------------------------------------- timestamps and ids

_MILLIS = tuple(f"{ms:03d}Z" for ms in range(1000))
# Gladly trims trailing zeros: ".070" is written ".07" (never fewer than two digits here).
_MILLIS_TRIMMED = tuple(f"{ms:03d}".rstrip("0").ljust(2, "0") + "Z" for ms in range(1000))


def _finer_fractions(seed: int, digits: int) -> tuple[str, ...]:
    """Per millisecond, a 6- or 9-digit fraction (sub-millisecond digits fixed per seed)."""
    rng = stable_rng(seed, "fractions", digits)
    return tuple(f"{ms:03d}{rng.randrange(10 ** (digits - 3)):0{digits - 3}d}Z" for ms in range(1000))


class TimestampFormatter:
    """Epoch milliseconds -> ``2026-11-19T07:15:19.072Z``, several times faster than strftime.

    Caches the text up to the second: a day has 86,400 of them, and an item's
    timestamp is then one dict lookup and one concatenation (hot path).
    ``suffixes`` picks the fraction style (``TimestampFormatter.styles``).
    """

    def __init__(self, seed: int) -> None:
        self._seconds: dict[int, str] = {}
        self._minutes: dict[int, str] = {}
        # Fraction styles and their weight in 20: 3 digits, trimmed (2-3), 6 and 9 digits.
        micro, nano = _finer_fractions(seed, 6), _finer_fractions(seed, 9)
        self.styles = (_MILLIS,) * 12 + (_MILLIS_TRIMMED,) * 3 + (micro,) * 2 + (nano,) * 3

    def __call__(self, ms: int, suffixes: tuple[str, ...] = _MILLIS) -> str:
        second, millis = divmod(ms, 1000)
        prefix = self._seconds.get(second)
        if prefix is None:
            prefix = self._second(second)
        return prefix + suffixes[millis]

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


def draw_ids(rng: random.Random, count: int) -> list[str]:
    """``count`` Gladly-looking ids (22 url-safe base64 characters) from one base64 call, last first."""
    text = base64.urlsafe_b64encode(rng.randbytes((count + 1) // 2 * 33)).decode()
    ids = [text[i : i + 22] for i in range(0, 22 * count, 22)]
    ids.reverse()
    return ids


def to_ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


# --------------------------------------------------------------------------- one job


@dataclass(frozen=True)
class Slot:
    """A schedule period whose conversations a job may hold items of."""

    start: datetime
    end: datetime
    conversations: int


@dataclass(frozen=True)
class JobSpec:
    """Everything that determines a job's files (except the ``mutate`` hook)."""

    job_id: str
    ordinal: int
    start: datetime
    end: datetime
    files: tuple[str, ...] = ALL_FILES
    conversations: int = 20  # estimate of the job's own conversations (sizes malformed lines)
    conversation_items: int | None = None  # exact count: its own conversations stay in the window
    malformed_lines: int = 0
    extra_lines: tuple[tuple[str, tuple[bytes, ...]], ...] = ()
    # The slots whose conversations may have items in this window (the job's own included).
    slots: tuple[Slot, ...] = ()

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
    conversations = Conversations(world, spec)
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

    write(ITEMS_FILE, conversations.lines(), conversations.expected_items)
    ordinal = spec.ordinal
    customers = [world.customer(i, ordinal) for i in sorted(conversations.customers)]
    write(CUSTOMERS_FILE, customers, len(customers))
    agents = sorted(conversations.agents | set(world.agents_changed(ordinal)))
    write(AGENTS_FILE, [world.agent(i, ordinal) for i in agents], len(agents))
    topics = sorted(conversations.topics | set(world.topics_changed(ordinal)))
    write(TOPICS_FILE, [world.topic(i, ordinal) for i in topics], len(topics))
    return counts


# --------------------------------------------------------------------------- conversations

_CHANNEL_WEIGHTS = (  # in 1000
    ("CHAT_MESSAGE", 296),
    ("EMAIL", 220),
    ("PHONE_CALL", 120),
    ("SMS", 100),
    ("WHATSAPP", 80),
    ("FACEBOOK_MESSAGE", 60),
    ("INSTAGRAM_DIRECT", 60),
    ("VOICEMAIL", 60),
    ("TWITTER", 4),  # decommissioned in 2023, still exported now and then
)
# 1000 slots so that a channel is one multiply and one index away (hot path).
_CHANNELS = tuple(name for name, weight in _CHANNEL_WEIGHTS for _ in range(weight))
_ASYNC = frozenset(("EMAIL", "SMS", "WHATSAPP", "FACEBOOK_MESSAGE", "INSTAGRAM_DIRECT", "TWITTER", "VOICEMAIL"))
_LOOSE_ACTIVITY_SHARE = 0.02  # items posted through the API outside any conversation

# Steps of a conversation's flow.
(
    ACTIVITY, INBOUND, SIDEKICK, QUICK_REPLY, AUTO_REPLY, VOICE_AI, TOPIC, RETOPIC, REPLY,
    THIRD_PARTY, NOTE, CLOSED, RETURNING, REOPENED,
) = range(14)  # fmt: skip

# id, then '","conversationId":"...","customerId":"...","timestamp":"', the timestamp, then the optional
# parts (initiator, responder, sessionId) with their keys, then the content.
_ITEM_LINE = '{"id":"%s%s%s"%s%s%s,"content":%s}'
_CLOSED = encode({"type": "CONVERSATION_STATUS_CHANGE", "status": "CLOSED"})
_OPEN = encode({"type": "CONVERSATION_STATUS_CHANGE", "status": "OPEN"})


def _refs(id_: str, type_: str) -> tuple[str, str]:
    """An initiator/responder, pre-encoded in both key orders Gladly writes."""
    return encode({"id": id_, "type": type_}), encode({"type": type_, "id": id_})


_ATTACHMENTS = (
    ("image/jpeg", "photo_0193.jpg", 482_113),
    ("application/pdf", "facture-n°2231.pdf", 88_420),
    ("image/heic", "IMG_4411.HEIC", 1_902_337),
)
_SUMMARY_STATUSES = ("READY",) * 7 + ("PENDING", "FAILED", "REDACTED")


class Conversations:
    """One job's conversation items, and who and what they touched."""

    def __init__(self, world: World, spec: JobSpec) -> None:
        self.world = world
        self.spec = spec
        self.rng = random.Random()  # reseeded for every conversation
        self.start_ms = to_ms(spec.start)
        self.end_ms = max(to_ms(spec.end), self.start_ms + 1)
        self.exact = spec.conversation_items
        if self.exact is None:
            self.expected_items = round(spec.conversations * ITEMS_PER_CONVERSATION)
        else:
            self.expected_items = self.exact
        self.ts = TimestampFormatter(world.seed)
        self.topic_choices = world.conversation_topics or [0]
        self.contacts = [world.contact(i) for i in range(world.customer_count)]
        # Who did what, pre-encoded: the line template pastes these in.
        self.agent_refs = [_refs(world.agent_id(i), "AGENT") for i in range(world.agent_count)]
        self.customer_refs = [_refs(c.id, "CUSTOMER") for c in self.contacts]
        self.sidekick = _refs("SIDEKICK_V2", "SYSTEM")  # Gladly's AI
        self.automations = [_refs(i, "AUTOMATION") for i in world.automation_ids]
        self.integration = _refs(world.integration_id, "API")
        # Email replies from third parties: INTERNAL from the company's domain, EXTERNAL otherwise.
        self.third_parties = [
            (_refs(world.colleague_id, "INTERNAL"), world.billing_email),
            (_refs(world.carrier_id, "EXTERNAL"), world.carrier_email),
        ]
        options = list(zip(world.quick_reply_option_ids, QUICK_REPLY_OPTIONS, strict=True))
        self.quick_reply_options = [{"id": id_, "label": label} for id_, label in options]
        # What the items touched: these go into customers.jsonl, agents.jsonl, topics.jsonl.
        self.customers: set[int] = set()
        self.agents: set[int] = set()
        self.topics: set[int] = set()

    def lines(self) -> Iterator[str]:
        """The job's items as JSON lines (without newline)."""
        budget = self.exact
        for slot in self.spec.slots:
            if slot.conversations <= 0:
                continue
            base = self.world.stream_seed("slot", slot.start.isoformat())
            lo, hi = to_ms(slot.start), to_ms(slot.end)
            for number in range(slot.conversations):
                self.rng.seed(base + number)  # one stream per conversation: any job can regenerate it
                lines = self._conversation(lo, hi, squeeze=False)
                if budget is not None:
                    if len(lines) >= budget:
                        yield from lines[:budget]
                        return
                    budget -= len(lines)
                yield from lines
        if budget is None:
            return
        # The job's own exact-count conversations: no other job regenerates them, so one
        # stream for all of them (a reseed per conversation costs time at millions of items).
        self.rng.seed(self.world.stream_seed("job", self.spec.job_id))
        while budget > 0:
            lines = self._conversation(self.start_ms, self.end_ms, squeeze=True)
            if len(lines) >= budget:
                yield from lines[:budget]
                return
            budget -= len(lines)
            yield from lines

    # ----------------------------------------------------------- plans

    def _plan(self, channel: str) -> list[int]:
        r = self.rng.random
        plan = [ACTIVITY] if r() < 0.15 else []
        if channel == "PHONE_CALL" and r() < 0.1:
            plan.append(VOICE_AI)  # the voice AI talks first, then the call reaches an agent
        plan.append(INBOUND)
        if channel == "CHAT_MESSAGE" and r() < 0.35:
            plan += [SIDEKICK, QUICK_REPLY]
        elif channel == "EMAIL" and r() < 0.3:
            plan.append(AUTO_REPLY)
        topic = r() < 0.85
        if topic:
            plan.append(TOPIC)
        answered = r() >= 0.08
        live = channel == "PHONE_CALL"  # a call is answered live: the call item carries the responder
        if answered:
            if not live:
                plan.append(REPLY)
            for _ in range(int(r() * 2.6)):
                plan += [INBOUND] if live else [INBOUND, REPLY]
            if channel == "EMAIL" and r() < 0.08:
                plan.append(THIRD_PARTY)
            if topic and r() < 0.2:
                plan.append(RETOPIC)
        if r() < 0.4:
            plan.append(NOTE)
        if r() < (0.97 if answered else 0.6):  # some conversations are never closed
            plan.append(CLOSED)
            if r() < 0.15:  # the customer comes back hours or days later
                plan += [RETURNING, REOPENED] + ([] if live else [REPLY]) + [CLOSED]
        return plan

    def _times(self, plan: list[int], channel: str, lo: int, hi: int, squeeze: bool) -> list[int]:
        r = self.rng.random
        t = lo + int(r() * (hi - lo))
        times = [t]
        slow = channel in _ASYNC
        for step in plan[1:]:
            if step == REPLY and slow:
                t += 30_000 + int(r() ** 3 * 6 * 3_600_000)  # up to 6 h, mostly minutes
            elif step == RETURNING:
                t += 3_600_000 + int(r() ** 2 * 2 * 86_400_000)  # 1 h to 2 days later
            elif step == CLOSED:
                t += 60_000 + int(r() ** 2 * 4 * 3_600_000)
            else:
                t += 2_000 + int(r() ** 2 * 900_000)  # 2 s to 15 min, mostly short
            times.append(t)
        if squeeze:  # exact-count jobs: keep the conversation inside the window
            last, first = times[-1], times[0]
            if last >= hi:
                room = hi - 1 - first
                times = [first + (x - first) * room // (last - first) for x in times]
        return times

    # ----------------------------------------------------------- items

    def _conversation(self, lo: int, hi: int, squeeze: bool) -> list[str]:
        """The items of one conversation (starting in ``lo`` .. ``hi``) that fall in the job's window."""
        rng = self.rng
        r = rng.random
        lines: list[str] = []
        start, end = self.start_ms, self.end_ms
        customer = int(len(self.contacts) * r() ** 2)  # a few customers write a lot
        if r() < _LOOSE_ACTIVITY_SHARE:
            return self._loose_activity(customer, lo + int(r() * (hi - lo)))
        channel = _CHANNELS[int(r() * len(_CHANNELS))]
        plan = self._plan(channel)
        times = self._times(plan, channel, lo, hi, squeeze)
        horizon = lo + _HORIZON_MS  # items past it are never exported, by any job
        if times[0] >= end or times[-1] < start or times[0] >= horizon:
            return lines  # nothing in this window: no need to draw the contents
        agent = int(len(self.agent_refs) * r())
        order_key = 1 if r() < 0.2 else 0  # some conversations write refs as {"type","id"}
        suffixes = self.ts.styles[int(r() * len(self.ts.styles))]
        ids = draw_ids(rng, len(plan) + 2)
        conversation_id, session_id = ids.pop(), ids.pop()
        order = str(rng.randrange(100_000, 1_000_000))
        contact = self.contacts[customer]
        customer_ref = self.customer_refs[customer][order_key]
        agent_ref = self.agent_refs[agent][order_key]
        head = '","conversationId":"' + conversation_id + '","customerId":"' + contact.id + '","timestamp":"'
        topic: int | None = None
        request_id = ""
        emitted = False
        for step, ms in zip(plan, times, strict=True):
            item_id = ids.pop()
            initiator: str | None
            content: dict[str, Any] | str
            responder = extra = None
            if step in (INBOUND, RETURNING):
                initiator, responder = customer_ref, agent_ref
                content = self._exchange(True, channel, contact, order, session_id, item_id, ms, suffixes)
                if channel == "PHONE_CALL" and "answeredAt" not in content:  # a missed call: nobody answered
                    responder = None
            elif step == REPLY:
                initiator, responder = agent_ref, customer_ref
                content = self._exchange(False, channel, contact, order, session_id, item_id, ms, suffixes)
            elif step in (TOPIC, RETOPIC):
                initiator = agent_ref if r() < 0.8 else self.automations[0][order_key]
                previous, topic = topic, self.topic_choices[int(r() * len(self.topic_choices))]
                self.topics.add(topic)
                content = {"type": "TOPIC_CHANGE", "addedTopicIds": [self.world.topic_id(topic)]}
                if step == RETOPIC and previous is not None and previous != topic:
                    content["removedTopicIds"] = [self.world.topic_id(previous)]
                    self.topics.add(previous)
                    if r() < 0.3:  # removed without a replacement
                        del content["addedTopicIds"]
                        topic = previous
            elif step == CLOSED:
                close = r()
                initiator = agent_ref if close < 0.8 else self.automations[1][order_key] if close < 0.92 else None
                content = _CLOSED
            elif step == REOPENED:
                initiator = customer_ref if r() < 0.7 else agent_ref
                content = _OPEN
            elif step == NOTE:
                initiator = agent_ref
                content = {"type": "CONVERSATION_NOTE", "body": NOTES[int(r() * len(NOTES))]}
                self._attach(content, item_id, 0.3)
            elif step == SIDEKICK:
                initiator, responder = self.sidekick[order_key], customer_ref
                request_id = item_id
                text = SIDEKICK_REPLIES[int(r() * len(SIDEKICK_REPLIES))].replace("{order}", order)
                content = self._chat(session_id, text, item_id, "QUICK_REPLY_REQUEST")
                content["messageData"] = {"options": self.quick_reply_options}
            elif step == QUICK_REPLY:
                initiator = customer_ref
                option = self.quick_reply_options[int(r() * len(self.quick_reply_options))]
                content = self._chat(session_id, option["label"], item_id, "QUICK_REPLY_RESPONSE")
                content["messageData"] = {
                    "quickReplyRequest": {"options": self.quick_reply_options},
                    "selectedOptionId": option["id"],
                    "requestMessageId": request_id,
                }
            elif step == AUTO_REPLY:
                initiator, responder = self.automations[2][order_key], customer_ref
                text = AUTO_REPLIES[int(r() * len(AUTO_REPLIES))].replace("{order}", order)
                content = self._email(self.world.support_email, [contact.email], self._subject(contact, order), text)
            elif step == THIRD_PARTY:
                (refs, sender), text = self.third_parties[int(r() * 2)], THIRD_PARTY_REPLIES[int(r() * 2)]
                initiator, responder = refs[order_key], customer_ref
                content = self._email(
                    sender, [contact.email], self._subject(contact, order), text.replace("{order}", order)
                )
            elif step == VOICE_AI:
                initiator, responder = self.sidekick[order_key], customer_ref
                text = VOICE_AI_LINES[int(r() * len(VOICE_AI_LINES))].replace("{order}", order)
                content = {"type": "VOICE_AI_MESSAGE", "content": text}
                extra = ',"sessionId":"' + session_id + '"'
            else:  # ACTIVITY
                initiator = self.integration[order_key]
                content = self._activity(order, ms, suffixes)
            if not start <= ms < end or ms >= horizon:
                continue
            if not emitted:
                emitted = True
                self.customers.add(customer)
            if initiator is agent_ref or responder is agent_ref:
                self.agents.add(agent)
            # Ids, timestamps and refs are plain ASCII without escapes: paste them,
            # and run only `content` (free text) through the JSON encoder.
            lines.append(
                _ITEM_LINE
                % (
                    item_id,
                    head,
                    self.ts(ms, suffixes),
                    "" if initiator is None else ',"initiator":' + initiator,
                    "" if responder is None else ',"responder":' + responder,
                    "" if extra is None else extra,
                    content if isinstance(content, str) else encode(content),
                )
            )
        return lines

    def _loose_activity(self, customer: int, ms: int) -> list[str]:
        """An activity posted through the API: about a customer, in no conversation."""
        rng = self.rng
        item_id = draw_ids(rng, 1)[0]
        order = str(rng.randrange(100_000, 1_000_000))
        content = self._activity(order, ms, _MILLIS)
        if not self.start_ms <= ms < self.end_ms:
            return []
        self.customers.add(customer)
        return [
            f'{{"id":"{item_id}","customerId":"{self.contacts[customer].id}","timestamp":"{self.ts(ms)}",'
            f'"initiator":{self.integration[0]},"content":{encode(content)}}}'
        ]

    # ----------------------------------------------------------- content by type
    # Optional keys are left out when there is nothing to say, as Gladly does.

    def _text(self, pool: tuple[str, ...], contact: Contact, order: str) -> str:
        return pool[int(self.rng.random() * len(pool))].replace("{order}", order).replace("{first}", contact.first_name)

    def _subject(self, contact: Contact, order: str) -> str:
        return "Re: " + self._text(contact.locale.subjects, contact, order)

    def _attach(self, content: dict[str, Any], item_id: str, probability: float = 0.1) -> None:
        """Maybe one attachment (``attachments`` is left out when there is none)."""
        r = self.rng.random
        if r() < probability:
            content_type, filename, size = _ATTACHMENTS[int(r() * len(_ATTACHMENTS))]
            # Its id is the item's, rotated: unique, and no random draw on the hot path.
            attachment_id = item_id[11:] + item_id[:11]
            content["attachments"] = [
                {"id": attachment_id, "contentType": content_type, "filename": filename, "fileSize": size}
            ]

    def _chat(self, session_id: str, text: str, item_id: str, message_type: str = "TEXT") -> dict[str, Any]:
        content = {"type": "CHAT_MESSAGE", "sessionId": session_id, "content": text, "messageType": message_type}
        self._attach(content, item_id)
        return content

    def _exchange(
        self,
        inbound: bool,
        channel: str,
        contact: Contact,
        order: str,
        session_id: str,
        item_id: str,
        ms: int,
        suffixes: tuple[str, ...],
    ) -> dict[str, Any]:
        """A customer's message (``inbound``) or an agent's answer, on the conversation's channel."""
        world = self.world
        if channel in ("PHONE_CALL", "VOICEMAIL"):
            if not inbound:  # the agent calls back
                return self._call(world.company_phone, contact.phone, contact, item_id, ms, suffixes, outbound=True)
            voicemail = channel == "VOICEMAIL"
            call = self._call(contact.phone, world.company_phone, contact, item_id, ms, suffixes, voicemail=voicemail)
            if voicemail:
                return {k: v for k, v in call.items() if k not in ("from", "to", "answeredAt", "completedAt")}
            return call
        text = self._text(contact.locale.inbound if inbound else contact.locale.replies, contact, order)
        if channel == "CHAT_MESSAGE":
            return self._chat(session_id, text, item_id)
        if channel == "EMAIL":
            if inbound:
                subject = self._text(contact.locale.subjects, contact, order)
                return self._email(contact.email, [world.support_email], subject, text, item_id)
            return self._email(world.support_email, [contact.email], self._subject(contact, order), text, item_id)
        return self._message(channel, contact, text, item_id, inbound)

    def _email(self, sender: str, to: list[str], subject: str, text: str, item_id: str = "") -> dict[str, Any]:
        r = self.rng.random
        content: dict[str, Any] = {"type": "EMAIL", "from": sender, "to": to}
        if r() < 0.1:
            content["cc"] = [self.world.billing_email]
        if r() < 0.02:
            content["bcc"] = [self.world.audit_email]
        if r() < 0.97:  # a few emails have no subject at all
            content["subject"] = subject
        content["content"] = text
        if item_id:
            self._attach(content, item_id)
        return content

    def _message(self, channel: str, contact: Contact, text: str, item_id: str, inbound: bool) -> dict[str, Any]:
        content: dict[str, Any]
        if channel == "SMS":
            sender, receiver = (
                (contact.phone, self.world.company_sms) if inbound else (self.world.company_sms, contact.phone)
            )
            content = {"type": "SMS", "from": sender, "to": receiver, "content": text}
        elif channel == "FACEBOOK_MESSAGE":
            content = {
                "type": "FACEBOOK_MESSAGE",
                "pageId": self.world.facebook_page_id,
                "userId": contact.facebook_user_id,
                "content": text,
            }
        else:  # INSTAGRAM_DIRECT, WHATSAPP, TWITTER
            content = {"type": channel, "content": text}
        self._attach(content, item_id)
        return content

    def _call(
        self,
        sender: str,
        receiver: str,
        contact: Contact,
        item_id: str,
        ms: int,
        suffixes: tuple[str, ...],
        outbound: bool = False,
        voicemail: bool = False,
    ) -> dict[str, Any]:
        r = self.rng.random
        ts = self.ts
        ring = 3_000 + int(r() * 25_000)
        duration = 20 + int(r() * 900)
        missed = not outbound and not voicemail and r() < 0.08
        status = "AVAILABLE" if r() < 0.9 else ("DELETED", "ERROR")[int(r() * 2)]
        if missed:
            status = "ERROR"
        # Gladly's examples put `type` last in calls and voicemails.
        content: dict[str, Any] = {"from": sender, "to": receiver, "startedAt": ts(ms, suffixes)}
        if not missed:
            content["answeredAt"] = ts(ms + ring, suffixes)
        content["completedAt"] = ts(ms + ring + duration * 1000, suffixes)
        content["recordingStatus"] = status
        if status == "AVAILABLE":  # url and duration are "present if recording is AVAILABLE"
            content["recordingUrl"] = f"/api/v1/conversation-items/{item_id}/media/recording"
            # Gladly's own examples once show the duration as a string: so do we, sometimes.
            content["recordingDuration"] = str(duration) if r() < 0.05 else duration
            summary_status = _SUMMARY_STATUSES[int(r() * len(_SUMMARY_STATUSES))]
            summary: dict[str, Any] = {"status": summary_status}
            if summary_status == "READY":
                summary["summary"] = CALL_SUMMARIES[int(r() * len(CALL_SUMMARIES))]
                summary["language"] = contact.locale.language
            content["recordingSummary"] = summary
        content["type"] = "VOICEMAIL" if voicemail else "PHONE_CALL"
        return content

    def _activity(self, order: str, ms: int, suffixes: tuple[str, ...]) -> dict[str, Any]:
        r = self.rng.random
        activity_type, title, body, source = ACTIVITIES[int(r() * len(ACTIVITIES))]
        content: dict[str, Any] = {
            "type": "CUSTOMER_ACTIVITY",
            "activityType": activity_type,
            "title": title.replace("{order}", order),
            "body": body.replace("{order}", order),
            "sourceName": source,
            "link": {"url": f"https://admin.shop.example/orders/{order}", "text": f"#{order}"},
        }
        if r() < 0.7:
            content["expandByDefault"] = r() < 0.3
        if r() < 0.8:  # "omitted" when the poster did not say
            content["occurredAt"] = self.ts(ms - int(r() * 3_600_000), suffixes)
        content["receivedAt"] = self.ts(ms, suffixes)
        return content
