"""What Gladly's reports describe, derived from the simulator's own conversation items.

The Reports API must tell the same story as the export files, so nothing here is
drawn at random: every conversation, contact, event and work session follows from
the items of the visible jobs (``GladlySimulator.conversation_items``) (plus stable hashes for the few figures items do not
carry, such as after-contact time).

Definitions (the simulator's; Gladly documents the columns, not how it derives them):

- **Conversation**: the items sharing a ``conversationId``, in time order (ties keep
  file order; an item id seen twice counts once). Created at its first item. Closed
  and reopened by ``CONVERSATION_STATUS_CHANGE`` items that change the status (a
  CLOSED while closed is no change). Its topics are those added and not removed.
- **Assignment**: a communication item (message, call, email...) routes the
  conversation to the inbox the world assigns it for that channel
  (``GladlySimulator.inbox_of``), and to the agent who sent or answered it, if any. Every change is a ``CONVERSATION_ASSIGNEE/UPDATED`` event.
- **Contact**: one channel session of a conversation. A communication item opens a
  contact when none is open, when the open one is on another channel, or when it is
  a phone call (each call is a contact of its own, from ring to hang-up). A contact
  ends when the conversation closes, when a contact on another channel replaces it,
  or, for a call, when the call completes. It is inbound when a customer started it.
- **Contact timeline**: an inbound contact is queued at its first item and offered
  when an agent is routed to it; the agent accepts halfway between the offer and
  their first message, which fulfils the contact (calls: offered at the ring,
  accepted and fulfilled when answered, missed when nobody answers). An unanswered
  inbound contact replaced by an agent's outbound one is fulfilled by it.
- **Work session**: one per contact and agent who took part, from the agent's
  acceptance to the next agent's, or to the contact's end; a contact no agent
  touched has one session with no agent.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .jobs import parse_instant

# Export content type -> the channel the reports print.
CHANNELS: Mapping[str, str] = {
    "CHAT_MESSAGE": "CHAT",
    "EMAIL": "EMAIL",
    "PHONE_CALL": "PHONE_CALL",
    "VOICEMAIL": "VOICEMAIL",
    "SMS": "SMS",
    "WHATSAPP": "WHATSAPP",
    "FACEBOOK_MESSAGE": "FB_MESSENGER",
    "INSTAGRAM_DIRECT": "INSTAGRAM_DIRECT",
    "TWITTER": "TWITTER",
}
# How long a contact on each channel may wait for its first answer.
SLA_SECONDS: Mapping[str, int] = {
    "CHAT": 120,
    "PHONE_CALL": 30,
    "VOICEMAIL": 4 * 3600,
    "EMAIL": 24 * 3600,
}
DEFAULT_SLA_SECONDS = 3600
# A phone contact's last IVR choice: cells with commas, quotes and line breaks on purpose.
IVR_SELECTIONS = ("Orders\n(press 1)", "Billing, payments & refunds\n(press 2)", 'Speak to "a person" (press 0)')


def derived_id(*parts: str) -> str:
    """A Gladly-looking 22-character id that is a pure function of ``parts``."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return base64.urlsafe_b64encode(digest[:16])[:22].decode()


def _fraction(*parts: str) -> float:
    """A stable number in [0, 1) for figures the items do not carry."""
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big") / 2**64


# --------------------------------------------------------------------------- items


@dataclass(frozen=True, slots=True)
class Item:
    """The parts of one export item the reports use."""

    id: str
    conversation_id: str
    customer_id: str
    at: datetime
    order: int  # position in the export (oldest job first): breaks timestamp ties
    initiator_id: str | None
    initiator_type: str | None
    responder_id: str | None
    responder_type: str | None
    type: str
    status: str | None = None  # CONVERSATION_STATUS_CHANGE
    added_topics: tuple[str, ...] = ()
    removed_topics: tuple[str, ...] = ()
    to: str | None = None  # the address an inbound contact reached
    answered_at: datetime | None = None  # calls
    completed_at: datetime | None = None
    missed: bool = False  # an inbound call nobody answered

    @property
    def agent_id(self) -> str | None:
        """The agent who sent or answered this item."""
        if self.initiator_type == "AGENT":
            return self.initiator_id
        if self.responder_type == "AGENT":
            return self.responder_id
        return None


def parse_items(records: Iterable[object]) -> list[Item]:
    """The usable items among export records, in the order given; anything else is skipped."""
    items = []
    for number, record in enumerate(records):
        item = _item(record, number) if isinstance(record, dict) else None
        if item is not None:
            items.append(item)
    return items


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value)
    except ValueError:
        return None


def _ref(value: object) -> tuple[str | None, str | None]:
    if not isinstance(value, dict):
        return None, None
    return _text(value.get("id")), _text(value.get("type"))


def _ids(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _item(record: dict[str, Any], order: int) -> Item | None:
    item_id, conversation_id = _text(record.get("id")), _text(record.get("conversationId"))
    at = _instant(record.get("timestamp"))
    if item_id is None or conversation_id is None or at is None:
        return None  # not part of a conversation, or unreadable
    content = record.get("content")
    content = content if isinstance(content, dict) else {}
    kind = _text(content.get("type")) or ""
    initiator_id, initiator_type = _ref(record.get("initiator"))
    responder_id, responder_type = _ref(record.get("responder"))
    to = content.get("to")
    answered = _instant(content.get("answeredAt"))
    return Item(
        id=item_id,
        conversation_id=conversation_id,
        customer_id=_text(record.get("customerId")) or "",
        at=at,
        order=order,
        initiator_id=initiator_id,
        initiator_type=initiator_type,
        responder_id=responder_id,
        responder_type=responder_type,
        type=kind,
        status=_text(content.get("status")) if kind == "CONVERSATION_STATUS_CHANGE" else None,
        added_topics=_ids(content.get("addedTopicIds")),
        removed_topics=_ids(content.get("removedTopicIds")),
        to=_text(to[0] if isinstance(to, list) and to else to),
        answered_at=answered,
        completed_at=_instant(content.get("completedAt")),
        missed=kind == "PHONE_CALL" and initiator_type == "CUSTOMER" and answered is None,
    )


# --------------------------------------------------------------------------- derived records


@dataclass(frozen=True, slots=True)
class Actor:
    type: str | None
    id: str | None

    @staticmethod
    def of(item: Item) -> Actor:
        return Actor(item.initiator_type, item.initiator_id)


@dataclass(frozen=True, slots=True)
class Assignment:
    inbox: str | None
    agent: str | None


@dataclass(frozen=True, slots=True)
class ConversationEvent:
    at: datetime
    type: str
    actor: Actor
    before: Assignment
    after: Assignment | None = None  # CONVERSATION_ASSIGNEE/UPDATED
    reason: str | None = None
    topic_id: str | None = None


@dataclass(frozen=True, slots=True)
class ContactEvent:
    at: datetime
    type: str
    actor: Actor


@dataclass
class Contact:
    id: str
    conversation_id: str
    customer_id: str
    channel: str
    inbound: bool
    initiator: Actor
    queued_at: datetime
    inbox: str
    entry_point: str | None
    ivr_selection: str | None
    offered_at: datetime | None = None
    accepted_at: datetime | None = None
    fulfilled_at: datetime | None = None
    fulfilled_by: str | None = None
    ended_at: datetime | None = None
    answered_outbound_at: datetime | None = None
    talk_seconds: float | None = None
    missed: bool = False
    agent_end: str | None = None
    # (agent, first instant they took part), in order: one work session each.
    agents: list[tuple[str, datetime]] = field(default_factory=list)
    # (instant, "customer" | "agent" | "rules" | "api", sender)
    messages: list[tuple[datetime, str, Actor]] = field(default_factory=list)
    first_agent_message_at: datetime | None = None

    @property
    def due_at(self) -> datetime | None:
        return self.queued_at + timedelta(seconds=self.sla_seconds) if self.inbound else None

    @property
    def sla_seconds(self) -> int:
        return SLA_SECONDS.get(self.channel, DEFAULT_SLA_SECONDS)

    def sessions(self) -> list[WorkSession]:
        if not self.agents:
            return [WorkSession(self, None, None, self.ended_at)]
        sessions = []
        for index, (agent, joined) in enumerate(self.agents):
            accepted = self.accepted_at if index == 0 and self.accepted_at is not None else joined
            until = self.agents[index + 1][1] if index + 1 < len(self.agents) else self.ended_at
            sessions.append(WorkSession(self, agent, accepted, until))
        return sessions

    @property
    def handle_seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return sum(session.handle_seconds or 0.0 for session in self.sessions())

    @property
    def after_contact_seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return sum(session.after_contact_seconds or 0.0 for session in self.sessions())

    def events(self) -> list[ContactEvent]:
        routing = Actor("INTERNAL", "ROUTING")
        first_agent = Actor("AGENT", self.agents[0][0]) if self.agents else routing
        events = [ContactEvent(self.queued_at, "CONTACT/STARTED", self.initiator)]
        if self.offered_at is not None:
            events.append(ContactEvent(self.offered_at, "CONTACT/OFFERED", routing))
        if self.accepted_at is not None:
            events.append(ContactEvent(self.accepted_at, "CONTACT/OFFER_ACCEPTED", first_agent))
        for agent, joined in self.agents[1:]:
            events.append(ContactEvent(joined, "CONTACT/TRANSFERRED", Actor("AGENT", agent)))
        for at, role, sender in self.messages:
            kind = "CONTACT/MESSAGE_RECEIVED" if role == "customer" else "CONTACT/MESSAGE_SENT"
            events.append(ContactEvent(at, kind, sender))
        if self.fulfilled_at is not None:
            events.append(ContactEvent(self.fulfilled_at, "CONTACT/FULFILLED", first_agent))
        if self.ended_at is not None:
            if self.missed:
                events.append(ContactEvent(self.ended_at, "CONTACT/OFFER_REJECTED", routing))
            events.append(ContactEvent(self.ended_at, "CONTACT/ENDED", self.initiator))
        return events


@dataclass(frozen=True, slots=True)
class WorkSession:
    contact: Contact
    agent: str | None
    accepted_at: datetime | None
    until: datetime | None

    @property
    def id(self) -> str | None:
        """Empty until the contact ends, as at Gladly."""
        if self.contact.ended_at is None:
            return None
        return derived_id("work-session", self.contact.id, self.agent or "")

    @property
    def handle_seconds(self) -> float | None:
        if self.contact.ended_at is None or self.accepted_at is None or self.until is None:
            return None
        return max(0.0, (self.until - self.accepted_at).total_seconds())

    @property
    def after_contact_seconds(self) -> float | None:
        if self.contact.ended_at is None or self.agent is None:
            return None
        return round(5 + 115 * _fraction("acw", self.contact.id, self.agent), 3)

    @property
    def unknown_seconds(self) -> float | None:
        return None if self.contact.ended_at is None or self.agent is None else 0.0


@dataclass
class Conversation:
    id: str
    customer_id: str
    created_at: datetime
    creator: Actor
    created_assignment: Assignment = Assignment(None, None)
    assignment: Assignment = Assignment(None, None)
    status: str = "OPEN"
    closes: list[tuple[datetime, Actor, Assignment]] = field(default_factory=list)  # (at, who, assignment then)
    reopens: int = 0
    topics: list[str] = field(default_factory=list)  # current, in the order added
    topics_added: int = 0
    topics_removed: int = 0
    notes: int = 0
    contacts: list[Contact] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)  # every assignee, in order
    inboxes: list[str] = field(default_factory=list)
    events: list[ConversationEvent] = field(default_factory=list)
    # (from, assignment) in time order: what a contact event saw "before" it.
    timeline: list[tuple[datetime, Assignment]] = field(default_factory=list)

    def assignment_before(self, at: datetime) -> Assignment:
        index = bisect.bisect_left(self.timeline, at, key=lambda entry: entry[0])
        return self.timeline[index - 1][1] if index else Assignment(None, None)


# --------------------------------------------------------------------------- derivation


# (conversation id, content type) -> the id of the inbox that conversation is routed to
InboxOf = Callable[[str, str], str]


def derive(items: Iterable[Item], inbox_of: InboxOf) -> list[Conversation]:
    """Every conversation the items describe, in creation order."""
    by_conversation: dict[str, list[Item]] = {}
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            continue
        seen.add(item.id)
        by_conversation.setdefault(item.conversation_id, []).append(item)
    conversations = [
        _Walk(sorted(group, key=lambda i: (i.at, i.order)), inbox_of).conversation for group in by_conversation.values()
    ]
    conversations.sort(key=lambda c: (c.created_at, c.id))
    return conversations


def _role(actor_type: str | None) -> str:
    if actor_type == "CUSTOMER":
        return "customer"
    if actor_type == "AGENT":
        return "agent"
    if actor_type in ("API", "EXTERNAL"):
        return "api"
    return "rules"


def _midpoint(a: datetime, b: datetime) -> datetime:
    return a + (b - a) / 2


class _Walk:
    """Replays one conversation's items in order."""

    def __init__(self, items: list[Item], inbox_of: InboxOf) -> None:
        first = items[0]
        self.inbox_of = inbox_of
        self.conversation = c = Conversation(first.conversation_id, first.customer_id, first.at, Actor.of(first))
        self.open: Contact | None = None
        c.events.append(ConversationEvent(first.at, "CONVERSATION/CREATED", c.creator, c.assignment))
        for item in items:
            self._step(item)
            if item is first:
                c.created_assignment = c.assignment
        for contact in c.contacts:
            self._finish_timeline(contact)

    def _step(self, item: Item) -> None:
        c = self.conversation
        before = c.assignment
        actor = Actor.of(item)
        channel = CHANNELS.get(item.type)
        if channel is not None:
            self._communicate(item, channel)
        elif item.status == "CLOSED" and c.status != "CLOSED":
            c.status = "CLOSED"
            c.closes.append((item.at, actor, before))
            c.events.append(ConversationEvent(item.at, "CONVERSATION/CLOSED", actor, before))
            self._end_open(item.at)
        elif item.status == "OPEN" and c.status == "CLOSED":
            c.status = "OPEN"
            c.reopens += 1
            c.events.append(ConversationEvent(item.at, "CONVERSATION/REOPENED", actor, before))
        elif item.type == "TOPIC_CHANGE":
            for topic in item.removed_topics:
                if topic in c.topics:
                    c.topics.remove(topic)
                    c.topics_removed += 1
                    c.events.append(
                        ConversationEvent(item.at, "CONVERSATION/TOPIC_REMOVED", actor, before, topic_id=topic)
                    )
            for topic in item.added_topics:
                if topic not in c.topics:
                    c.topics.append(topic)
                    c.topics_added += 1
                    c.events.append(
                        ConversationEvent(item.at, "CONVERSATION/TOPIC_ADDED", actor, before, topic_id=topic)
                    )
        elif item.type == "CONVERSATION_NOTE":
            c.notes += 1
            c.events.append(ConversationEvent(item.at, "NOTE/CREATED", actor, before))

    def _communicate(self, item: Item, channel: str) -> None:
        c = self.conversation
        inbox = self.inbox_of(c.id, item.type)
        agent = item.agent_id or c.assignment.agent
        after = Assignment(inbox, agent)
        if after != c.assignment:
            reason = "AGENT_REPLY" if item.initiator_type == "AGENT" else "ROUTING"
            c.events.append(
                ConversationEvent(item.at, "CONVERSATION_ASSIGNEE/UPDATED", Actor.of(item), c.assignment, after, reason)
            )
            c.assignment = after
            c.timeline.append((item.at, after))
            if agent is not None and agent not in c.agents:
                c.agents.append(agent)
            if inbox not in c.inboxes:
                c.inboxes.append(inbox)
        contact = self.open
        if contact is None or contact.channel != channel or channel == "PHONE_CALL":
            contact = self._start_contact(item, channel, inbox)
        contact.messages.append((item.at, _role(item.initiator_type), Actor.of(item)))
        if item.agent_id is not None:
            if all(agent != item.agent_id for agent, _ in contact.agents):
                contact.agents.append((item.agent_id, item.at))
            if item.initiator_type == "AGENT" and contact.first_agent_message_at is None:
                contact.first_agent_message_at = item.at
        contact.agent_end = c.assignment.agent
        if channel == "PHONE_CALL":
            self._call(contact, item)

    def _start_contact(self, item: Item, channel: str, inbox: str) -> Contact:
        c = self.conversation
        inbound = item.initiator_type != "AGENT"
        contact_id = derived_id("contact", c.id, item.id)
        contact = Contact(
            id=contact_id,
            conversation_id=c.id,
            customer_id=item.customer_id or c.customer_id,
            channel=channel,
            inbound=inbound,
            initiator=Actor.of(item),
            queued_at=item.at,
            inbox=inbox,
            entry_point=item.to if inbound else None,
            ivr_selection=(
                IVR_SELECTIONS[int(_fraction("ivr", contact_id) * len(IVR_SELECTIONS))]
                if inbound and channel == "PHONE_CALL"
                else None
            ),
        )
        previous = self.open
        if previous is not None:
            if previous.inbound and previous.fulfilled_at is None and not inbound:
                previous.fulfilled_at, previous.fulfilled_by = item.at, contact.id
            self._end_open(item.at)
        c.contacts.append(contact)
        self.open = contact
        return contact

    def _call(self, contact: Contact, item: Item) -> None:
        """A call is a whole contact: ring, answer (or not), hang up."""
        contact.offered_at = item.at
        contact.missed = item.missed
        if item.answered_at is not None:
            contact.accepted_at = item.answered_at
            if contact.inbound:
                contact.fulfilled_at = item.answered_at
            else:
                contact.answered_outbound_at = item.answered_at
            if item.completed_at is not None:
                contact.talk_seconds = max(0.0, (item.completed_at - item.answered_at).total_seconds())
        contact.ended_at = item.completed_at or item.at
        self.open = None

    def _end_open(self, at: datetime) -> None:
        if self.open is not None:
            self.open.ended_at = at
            self.open = None

    def _finish_timeline(self, contact: Contact) -> None:
        """Offer and acceptance of a messaging contact, from when its agent joined and first wrote."""
        if contact.channel == "PHONE_CALL" or not contact.agents:
            return
        joined = contact.agents[0][1]
        if not contact.inbound:
            contact.offered_at = contact.accepted_at = joined
            return
        contact.offered_at = joined
        reply = contact.first_agent_message_at
        if reply is not None:
            contact.accepted_at = _midpoint(joined, reply)
            if contact.fulfilled_at is None or reply < contact.fulfilled_at:
                contact.fulfilled_at, contact.fulfilled_by = reply, contact.id


def iter_contacts(conversations: Iterable[Conversation]) -> Iterator[Contact]:
    for conversation in conversations:
        yield from conversation.contacts
