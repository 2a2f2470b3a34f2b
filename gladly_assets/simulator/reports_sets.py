"""The five metric sets the simulator serves: their headers, filters and rows.

Each set is declared once (``METRIC_SETS``): Gladly's literal header names, the
filter-echo columns that precede them, which window forms and filters it takes,
and a function from the derived conversations to ``(instant, row)`` pairs, where
the instant is the column that places the row in a report window. Headers follow
``/work/shared/gladly-reports-api.md``; the ConversationExport header comes from
captured files, the others are as documented or reconstructed there.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from statistics import fmean

from .reports_model import Actor, Assignment, Contact, ContactEvent, Conversation, ConversationEvent, WorkSession

Cell = str | int | float | bool | datetime | None
Row = dict[str, Cell]


@dataclass(frozen=True)
class Names:
    """Ids -> names as the organization shows them now."""

    agents: Mapping[str, str]
    inboxes: Mapping[str, str]
    topics: Mapping[str, tuple[str, str | None]]  # id -> (name, parent id)
    link_base: str  # https://{org}.gladly.com

    def agent(self, agent_id: str | None) -> str | None:
        return None if agent_id is None else self.agents.get(agent_id)

    def inbox(self, inbox_id: str | None) -> str | None:
        return None if inbox_id is None else self.inboxes.get(inbox_id)

    def topic(self, topic_id: str | None) -> str | None:
        return None if topic_id is None else self.topics.get(topic_id, (None, None))[0]

    def topic_path(self, topic_id: str) -> str | None:
        name, parent = self.topics.get(topic_id, (None, None))
        if name is None:
            return None
        parent_name = self.topic(parent)
        return name if parent_name is None else f"{parent_name} > {name}"

    def link(self, conversation: Conversation) -> str:
        return f"{self.link_base}/customer/{conversation.customer_id}/conversation/{conversation.id}"


# (instant that places the row in a window, how to build the row): rows outside a window are never built.
Rows = Callable[[list[Conversation], Names], Iterator[tuple[datetime, Callable[[], Row]]]]


@dataclass(frozen=True)
class MetricSet:
    name: str
    echo: tuple[str, ...]  # filter-echo columns, before the data
    headers: tuple[str, ...]  # data columns, as the rows name them
    rows: Rows
    takes_dates: bool = True
    takes_times: bool = False
    filters: frozenset[str] = frozenset()  # keys of the request's "filters" it accepts


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def _agent_actor(actor: Actor, names: Names) -> tuple[str | None, str | None]:
    if actor.type != "AGENT":
        return None, None
    return actor.id, names.agent(actor.id)


# Initiator types as the conversation export prints them (the events print Gladly's own enum).
_EXPORT_INITIATOR = {"CUSTOMER": "Customer", "AGENT": "Agent", "API": "Application", "EXTERNAL": "Application"}
_CONTACT_INITIATOR = {
    "CUSTOMER": "Customer",
    "AGENT": "Agent",
    "AUTOMATION": "Automation",
    "INTERNAL": "Internal",
    "EXTERNAL": "External",
    "API": "Application",
}


def _event_initiator(actor_type: str | None) -> str | None:
    if actor_type is None:
        return None
    return "APPLICATION" if actor_type == "API" else actor_type


# --------------------------------------------------------------------------- ConversationExportReport

CONVERSATION_HEADERS = (
    "Created At", "Conversation ID", "Customer ID", "Conversation Link", "Status",
    "Assigned Agent ID - Current", "Assigned Agent Name - Current", "Inbox ID - Current", "Inbox Name - Current",
    "First Closed At", "Last Closed At",
    "Initiator Type - Created", "Initiator Agent ID - Created", "Initiator Agent Name - Created",
    "Inbox ID - Created", "Inbox Name - Created", "Assigned Agent ID - Created", "Assigned Agent Name - Created",
    "Initiator Type - Last Closed", "Initiator Agent ID - Last Closed", "Initiator Agent Name - Last Closed",
    "Initiator Rule ID - Last Closed", "Inbox ID - Last Closed", "Inbox Name - Last Closed",
    "Assigned Agent ID - Last Closed", "Assigned Agent Name - Last Closed",
    "Topics", "Topics with Hierarchy", "First Contact ID",
    "First Channel", "Second Channel", "Third Channel", "Last Channel",
    "Created-to-First Closed Time in seconds", "Created-to-Last Closed Time in seconds",
    "Conversation Handle Time in seconds", "Is FCR Eligible", "Is FCR Success", "Merged Conversations",
    "Count of Contacts", "Count of Channels", "Count of Notes", "Count of Agents Assigned",
    "Count of Inboxes Assigned", "Times Agent Unassigned by Rule", "Times Closed", "Times Reopened",
    "Times Topic Added", "Times Topic Removed", "Payment Requests - Completed", "Payment Requests - Declined",
    "Payment Amount - Completed USD", "Payment Amount - Declined USD",
)  # fmt: skip

# The header drift seen between captures and a recent connector (header_style="recent").
RECENT_HEADERS = {
    "Created-to-First Closed Time in seconds": "Created-to-First Closed Time",
    "Created-to-Last Closed Time in seconds": "Created-to-Last Closed Time",
    "Conversation Handle Time in seconds": "Conversation Handle Time",
    "Count of Agents Assigned": "Count of Agents",
}


def _conversation_rows(conversations: list[Conversation], names: Names) -> Iterator[tuple[datetime, Callable[[], Row]]]:
    for c in conversations:
        yield c.created_at, partial(_conversation_row, c, names)


def _conversation_row(c: Conversation, names: Names) -> Row:
    first_close = c.closes[0][0] if c.closes else None
    last_at, last_closer, last_assignment = c.closes[-1] if c.closes else (None, Actor(None, None), None)
    channels = [contact.channel for contact in c.contacts]
    creator_agent, creator_agent_name = _agent_actor(c.creator, names)
    closer_agent, closer_agent_name = _agent_actor(last_closer, names)
    topics = [t for t in c.topics if names.topic(t) is not None]
    fcr_eligible = bool(c.closes) and bool(c.contacts) and c.contacts[0].inbound
    handle = [contact.handle_seconds for contact in c.contacts if contact.handle_seconds is not None]
    last_inbox = last_assignment.inbox if last_assignment else None
    last_agent = last_assignment.agent if last_assignment else None
    return {
        "Created At": c.created_at,
        "Conversation ID": c.id,
        "Customer ID": c.customer_id,
        "Conversation Link": names.link(c),
        "Status": c.status,
        "Assigned Agent ID - Current": c.assignment.agent,
        "Assigned Agent Name - Current": names.agent(c.assignment.agent),
        "Inbox ID - Current": c.assignment.inbox,
        "Inbox Name - Current": names.inbox(c.assignment.inbox),
        "First Closed At": first_close,
        "Last Closed At": last_at,
        "Initiator Type - Created": _EXPORT_INITIATOR.get(c.creator.type or "", "System"),
        "Initiator Agent ID - Created": creator_agent,
        "Initiator Agent Name - Created": creator_agent_name,
        "Inbox ID - Created": c.created_assignment.inbox,
        "Inbox Name - Created": names.inbox(c.created_assignment.inbox),
        "Assigned Agent ID - Created": c.created_assignment.agent,
        "Assigned Agent Name - Created": names.agent(c.created_assignment.agent),
        "Initiator Type - Last Closed": _EXPORT_INITIATOR.get(last_closer.type or "", "System") if c.closes else None,
        "Initiator Agent ID - Last Closed": closer_agent,
        "Initiator Agent Name - Last Closed": closer_agent_name,
        "Initiator Rule ID - Last Closed": last_closer.id if last_closer.type == "AUTOMATION" else None,
        "Inbox ID - Last Closed": last_inbox,
        "Inbox Name - Last Closed": names.inbox(last_inbox),
        "Assigned Agent ID - Last Closed": last_agent,
        "Assigned Agent Name - Last Closed": names.agent(last_agent),
        "Topics": ", ".join(str(names.topic(t)) for t in topics) or None,
        "Topics with Hierarchy": ", ".join(str(names.topic_path(t)) for t in topics) or None,
        "First Contact ID": c.contacts[0].id if c.contacts else None,
        "First Channel": channels[0] if channels else None,
        "Second Channel": channels[1] if len(channels) > 1 else None,
        "Third Channel": channels[2] if len(channels) > 2 else None,
        "Last Channel": channels[-1] if channels else None,
        "Created-to-First Closed Time in seconds": _seconds(c.created_at, first_close),
        "Created-to-Last Closed Time in seconds": _seconds(c.created_at, last_at),
        "Conversation Handle Time in seconds": sum(handle) if handle else None,
        "Is FCR Eligible": fcr_eligible,
        "Is FCR Success": fcr_eligible and c.reopens == 0 and len(c.contacts) == 1,
        "Merged Conversations": None,
        "Count of Contacts": len(c.contacts),
        "Count of Channels": len(set(channels)),
        "Count of Notes": c.notes,
        "Count of Agents Assigned": len(c.agents),
        "Count of Inboxes Assigned": len(c.inboxes),
        "Times Agent Unassigned by Rule": 0,
        "Times Closed": len(c.closes),
        "Times Reopened": c.reopens,
        "Times Topic Added": c.topics_added,
        "Times Topic Removed": c.topics_removed,
        "Payment Requests - Completed": 0,
        "Payment Requests - Declined": 0,
        "Payment Amount - Completed USD": 0.0,
        "Payment Amount - Declined USD": 0.0,
    }


# --------------------------------------------------------------------------- ContactExportReportV3

CONTACT_HEADERS = (
    "Queued At", "Customer ID", "Conversation ID", "Contact ID", "Conversation Link", "Channel", "Direction",
    "Contact Initiator", "Entry Point", "Final IVR Selection", "Fulfilled Type", "Status",
    "Inbox When Queued", "Inbox When Ended", "Agent When Ended",
    "Offered At", "Accepted At", "Fulfilled At", "Due At", "Ended At", "Answered At (Outbound)",
    "SLA Target (sec)", "Queued-to-Fulfilled (sec)", "Queued-to-Fulfilled within Business Hours (sec)",
    "Queued-to-Accepted (sec)", "Queued-to-Ended (sec)", "Accepted-to-Fulfilled (sec)",
    "Seconds Within (-) or Over (+) SLA", "Fulfilled-to-Ended (sec)", "Fulfilled by Contact ID",
    "Contact Handle Time (sec)", "After Contact Time (sec)", "Total Contact Handle Time (sec)", "Total Talk Time",
    "Hold Time Total (sec)", "Hold Time - Manual (sec)", "Hold Time - Warm Transfer (sec)",
    "Hold Time - Cold Transfer (sec)", "Hold Time - Conference (sec)",
    "Messages Total", "Messages from Customer", "Messages from Agent", "Messages from Rules", "Messages from API",
    "Avg. Agent Reply Time (sec)", "Avg. Customer Reply Time (sec)",
    "Times Offered", "Times Accepted", "Times Missed", "Times Declined", "Times Transferred",
    "Times On Hold Total", "Times On Hold - Manual", "Times On Hold - Warm Transfer",
    "Times On Hold - Cold Transfer", "Times On Hold - Conference",
    "Payment Requests - Completed", "Payment Requests - Declined",
    "Payment Amount - Completed USD", "Payment Amount - Declined USD",
)  # fmt: skip
_ZERO_HOLDS = (
    "Hold Time Total (sec)", "Hold Time - Manual (sec)", "Hold Time - Warm Transfer (sec)",
    "Hold Time - Cold Transfer (sec)", "Hold Time - Conference (sec)",
)  # fmt: skip
_ZERO_COUNTS = (
    "Times Declined", "Times On Hold Total", "Times On Hold - Manual", "Times On Hold - Warm Transfer",
    "Times On Hold - Cold Transfer", "Times On Hold - Conference",
    "Payment Requests - Completed", "Payment Requests - Declined",
)  # fmt: skip


def _reply_gaps(messages: list[tuple[datetime, str, Actor]], to_role: str) -> float | None:
    """Mean wait from a message of the other side to the next message of ``to_role``."""
    gaps, waiting_since = [], None
    for at, role, _ in messages:
        if role == to_role:
            if waiting_since is not None:
                gaps.append((at - waiting_since).total_seconds())
            waiting_since = None
        elif waiting_since is None and (role == "customer") != (to_role == "customer"):
            waiting_since = at
    return fmean(gaps) if gaps else None


def _contact_rows(conversations: list[Conversation], names: Names) -> Iterator[tuple[datetime, Callable[[], Row]]]:
    for conversation in conversations:
        for contact in conversation.contacts:
            yield contact.queued_at, partial(_contact_row, conversation, contact, names)


def _contact_row(conversation: Conversation, ct: Contact, names: Names) -> Row:
    roles = [role for _, role, _ in ct.messages] if ct.channel != "PHONE_CALL" else []
    handle, after = ct.handle_seconds, ct.after_contact_seconds
    ended = ct.ended_at is not None
    if ct.fulfilled_at is None:
        fulfilled_type = None
    elif ct.fulfilled_by != ct.id:
        fulfilled_type = "OUTBOUND_CONTACT"
    else:
        fulfilled_type = "CALL_ANSWERED" if ct.channel == "PHONE_CALL" else "AGENT_REPLY"
    status = "MISSED" if ct.missed else ("ENDED" if ended else "ACTIVE")
    queued_to_fulfilled = _seconds(ct.queued_at, ct.fulfilled_at)
    return {
        "Queued At": ct.queued_at,
        "Customer ID": ct.customer_id,
        "Conversation ID": ct.conversation_id,
        "Contact ID": ct.id,
        "Conversation Link": names.link(conversation),
        "Channel": ct.channel,
        "Direction": "INBOUND" if ct.inbound else "OUTBOUND",
        "Contact Initiator": _CONTACT_INITIATOR.get(ct.initiator.type or "", "System"),
        "Entry Point": ct.entry_point,
        "Final IVR Selection": ct.ivr_selection,
        "Fulfilled Type": fulfilled_type,
        "Status": status,
        "Inbox When Queued": names.inbox(ct.inbox),
        "Inbox When Ended": names.inbox(ct.inbox) if ended else None,
        "Agent When Ended": names.agent(ct.agent_end) if ended else None,
        "Offered At": ct.offered_at,
        "Accepted At": ct.accepted_at,
        "Fulfilled At": ct.fulfilled_at,
        "Due At": ct.due_at,
        "Ended At": ct.ended_at,
        "Answered At (Outbound)": ct.answered_outbound_at,
        "SLA Target (sec)": ct.sla_seconds if ct.inbound else None,
        "Queued-to-Fulfilled (sec)": queued_to_fulfilled,
        # The simulated organization works around the clock: business hours change nothing.
        "Queued-to-Fulfilled within Business Hours (sec)": queued_to_fulfilled,
        "Queued-to-Accepted (sec)": _seconds(ct.queued_at, ct.accepted_at),
        "Queued-to-Ended (sec)": _seconds(ct.queued_at, ct.ended_at),
        "Accepted-to-Fulfilled (sec)": _seconds(ct.accepted_at, ct.fulfilled_at),
        "Seconds Within (-) or Over (+) SLA": _seconds(ct.due_at, ct.fulfilled_at),
        "Fulfilled-to-Ended (sec)": _seconds(ct.fulfilled_at, ct.ended_at),
        "Fulfilled by Contact ID": ct.fulfilled_by,
        "Contact Handle Time (sec)": handle,
        "After Contact Time (sec)": after,
        "Total Contact Handle Time (sec)": None if handle is None or after is None else handle + after,
        "Total Talk Time": ct.talk_seconds,
        **dict.fromkeys(_ZERO_HOLDS, 0.0 if ended else None),
        "Messages Total": len(roles),
        "Messages from Customer": roles.count("customer"),
        "Messages from Agent": roles.count("agent"),
        "Messages from Rules": roles.count("rules"),
        "Messages from API": roles.count("api"),
        "Avg. Agent Reply Time (sec)": _reply_gaps(ct.messages, "agent"),
        "Avg. Customer Reply Time (sec)": _reply_gaps(ct.messages, "customer"),
        "Times Offered": int(ct.offered_at is not None),
        "Times Accepted": int(ct.accepted_at is not None),
        "Times Missed": int(ct.missed),
        "Times Transferred": max(0, len(ct.agents) - 1),
        **dict.fromkeys(_ZERO_COUNTS, 0),
        "Payment Amount - Completed USD": 0.0,
        "Payment Amount - Declined USD": 0.0,
    }


# --------------------------------------------------------------------------- timestamps

CONVERSATION_EVENT_HEADERS = (
    "Timestamp", "Event Type", "Conversation ID", "Customer ID", "Initiator Type", "Initiator ID",
    "Initiator Agent Name", "Assigned Inbox ID", "Assigned Inbox Name", "Assigned Agent ID", "Assigned Agent Name",
    "Topic ID", "Topic Name", "Newly Assigned Inbox ID", "Newly Assigned Inbox Name", "Newly Assigned Agent ID",
    "Newly Assigned Agent Name", "Assignment Update Reason", "Merged Customer ID", "Merged Conversation ID",
)  # fmt: skip
CONTACT_EVENT_HEADERS = (
    "Timestamp", "Event Type", "Contact ID", "Conversation ID", "Customer ID", "Channel", "Initiator Type",
    "Initiator ID", "Initiator Agent Name", "Assigned Inbox ID", "Assigned Inbox Name", "Assigned Agent ID",
    "Assigned Agent Name",
)  # fmt: skip


def _event_cells(at: datetime, kind: str, actor: Actor, before: Assignment, names: Names) -> Row:
    """The columns both timestamp reports share: when, what, who, and the assignment before."""
    return {
        "Timestamp": at,
        "Event Type": kind,
        "Initiator Type": _event_initiator(actor.type),
        "Initiator ID": actor.id,
        "Initiator Agent Name": _agent_actor(actor, names)[1],
        "Assigned Inbox ID": before.inbox,
        "Assigned Inbox Name": names.inbox(before.inbox),
        "Assigned Agent ID": before.agent,
        "Assigned Agent Name": names.agent(before.agent),
    }


def _conversation_event_row(c: Conversation, event: ConversationEvent, names: Names) -> Row:
    after = event.after
    return {
        **_event_cells(event.at, event.type, event.actor, event.before, names),
        "Conversation ID": c.id,
        "Customer ID": c.customer_id,
        "Topic ID": event.topic_id,
        "Topic Name": names.topic(event.topic_id),
        "Newly Assigned Inbox ID": after.inbox if after else None,
        "Newly Assigned Inbox Name": names.inbox(after.inbox) if after else None,
        "Newly Assigned Agent ID": after.agent if after else None,
        "Newly Assigned Agent Name": names.agent(after.agent) if after else None,
        "Assignment Update Reason": event.reason,
        "Merged Customer ID": None,
        "Merged Conversation ID": None,
    }


def _conversation_event_rows(
    conversations: list[Conversation], names: Names
) -> Iterator[tuple[datetime, Callable[[], Row]]]:
    for c in conversations:
        for event in c.events:
            yield event.at, partial(_conversation_event_row, c, event, names)


def _contact_event_row(c: Conversation, contact: Contact, event: ContactEvent, names: Names) -> Row:
    return {
        **_event_cells(event.at, event.type, event.actor, c.assignment_before(event.at), names),
        "Contact ID": contact.id,
        "Conversation ID": c.id,
        "Customer ID": contact.customer_id,
        "Channel": contact.channel,
    }


def _contact_event_rows(
    conversations: list[Conversation], names: Names
) -> Iterator[tuple[datetime, Callable[[], Row]]]:
    for c in conversations:
        for contact in c.contacts:
            for event in contact.events():
                yield event.at, partial(_contact_event_row, c, contact, event, names)


# --------------------------------------------------------------------------- work sessions

WORK_SESSION_HEADERS = (
    "id", "contact_session_id", "contact_session_created_at", "customer_id", "conversation_id", "inbox_id",
    "channel", "direction", "agent_accepted_at", "contact_session_routed_at", "agent_id", "sla_fulfilled_at",
    "contact_session_ended_at", "status", "within_sla", "work_session_handle_time_sec",
    "work_session_after_contact_time_sec", "work_session_unknown_time_sec", "accepted_inbox_id",
)  # fmt: skip


def _work_session_row(session: WorkSession) -> Row:
    ct = session.contact
    due = ct.due_at
    return {
        "id": session.id,
        "contact_session_id": ct.id,
        "contact_session_created_at": ct.queued_at,
        "customer_id": ct.customer_id,
        "conversation_id": ct.conversation_id,
        "inbox_id": ct.inbox,
        "channel": ct.channel,
        "direction": "INBOUND" if ct.inbound else "OUTBOUND",
        "agent_accepted_at": session.accepted_at,
        "contact_session_routed_at": ct.offered_at,
        "agent_id": session.agent,
        "sla_fulfilled_at": ct.fulfilled_at,
        "contact_session_ended_at": ct.ended_at,
        "status": "MISSED" if ct.missed else ("ENDED" if ct.ended_at is not None else "ACTIVE"),
        "within_sla": None if ct.fulfilled_at is None or due is None else ct.fulfilled_at <= due,
        "work_session_handle_time_sec": session.handle_seconds,
        "work_session_after_contact_time_sec": session.after_contact_seconds,
        "work_session_unknown_time_sec": session.unknown_seconds,
        "accepted_inbox_id": ct.inbox if session.accepted_at is not None else None,
    }


def _work_session_rows(conversations: list[Conversation], names: Names) -> Iterator[tuple[datetime, Callable[[], Row]]]:
    for c in conversations:
        for contact in c.contacts:
            # Placed by the contact's end, or by its creation while it is open.
            placed = contact.ended_at or contact.queued_at
            for session in contact.sessions():
                yield placed, partial(_work_session_row, session)


# --------------------------------------------------------------------------- the registry

_CONTACT_FILTERS = frozenset({"channel", "inboxes"})
METRIC_SETS: dict[str, MetricSet] = {
    s.name: s
    for s in (
        MetricSet(
            "ConversationExportReport",
            ("Timezone Filter", "Inboxes Filter"),
            CONVERSATION_HEADERS,
            _conversation_rows,
            filters=frozenset({"inboxes"}),
        ),
        MetricSet(
            "ContactExportReportV3",
            ("Timezone Filter", "Channel Filter", "Inboxes Filter"),
            CONTACT_HEADERS,
            _contact_rows,
            takes_times=True,
            filters=_CONTACT_FILTERS,
        ),
        MetricSet(
            "ConversationTimestampsReport", ("Timezone Filter",), CONVERSATION_EVENT_HEADERS, _conversation_event_rows
        ),
        MetricSet("ContactTimestampsReport", ("Timezone Filter",), CONTACT_EVENT_HEADERS, _contact_event_rows),
        # PostHog reads V4 with the V2 columns of /reports/work-session-events; its literal header is unverified.
        MetricSet("WorkSessionEventsReportV4", (), WORK_SESSION_HEADERS, _work_session_rows, takes_times=True),
    )
}
# POST /reports/work-session-events: the V2 CSV, instants only.
WORK_SESSION_EVENTS = MetricSet(
    "WorkSessionEventsReport", (), WORK_SESSION_HEADERS, _work_session_rows, takes_dates=False, takes_times=True
)


def rows_in_window(
    metric_set: MetricSet, conversations: list[Conversation], names: Names, start: datetime, end: datetime
) -> Iterable[Row]:
    """The set's rows placed in [start, end). No row is placed before its conversation was created."""
    first_after = bisect.bisect_left(conversations, end, key=lambda c: c.created_at)
    candidates = conversations[:first_after]  # conversations come in creation order
    return (build() for placed, build in metric_set.rows(candidates, names) if start <= placed < end)
