"""conversation_facts computed in plain Python from the simulator's files: the definitions of
docs/analytics.md written a second time, independently of the SQL, to check it against."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

MESSAGE_TYPES = frozenset(
    {
        "CHAT_MESSAGE",
        "EMAIL",
        "SMS",
        "WHATSAPP",
        "FACEBOOK_MESSAGE",
        "INSTAGRAM_DIRECT",
        "TWITTER",
        "VOICEMAIL",
        "VOICE_AI_MESSAGE",
    }
)
AUTOMATED = frozenset({"SYSTEM", "AUTOMATION"})
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})")
_MICROSECOND = timedelta(microseconds=1)


def instant(value: Any) -> datetime | None:
    """An RFC 3339 timestamp, fraction truncated to microseconds; None if it is not one."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    clock, fraction, zone = match.groups()
    micros = (fraction or "")[:6].ljust(6, "0")
    try:
        return datetime.fromisoformat(f"{clock}.{micros}{'+00:00' if zone == 'Z' else zone}").astimezone(UTC)
    except ValueError:
        return None


def seconds(later: datetime, earlier: datetime) -> float:
    return ((later - earlier) // _MICROSECOND) / 1e6


def _kind(ref: Any) -> tuple[str | None, str | None]:
    if not isinstance(ref, dict):
        return None, None
    return ref.get("type"), ref.get("id")


def conversation_facts(
    items: dict[str, tuple[str, dict[str, Any]]], job_updated_at: dict[str, datetime], topic_names: dict[str, str]
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """conversation id -> its row, and the items left out by reason. ``items``: item id ->
    (job id, record) of its newest version, as ``helpers.expected_tables`` replays them."""
    conversations: dict[str, list[tuple[datetime, str, str, dict[str, Any]]]] = defaultdict(list)
    excluded = {"items_without_conversation": 0, "items_without_timestamp": 0}
    for item_id, (job_id, record) in items.items():
        conversation = record.get("conversationId")
        if conversation in (None, ""):
            excluded["items_without_conversation"] += 1
            continue
        at = instant(record.get("timestamp"))
        if at is None:
            excluded["items_without_timestamp"] += 1
            continue
        conversations[str(conversation)].append((at, item_id, job_id, record))
    return {
        conversation: _facts(conversation, sorted(entries, key=lambda e: (e[0], e[1])), job_updated_at, topic_names)
        for conversation, entries in conversations.items()
    }, excluded


def _facts(
    conversation: str,
    entries: list[tuple[datetime, str, str, dict[str, Any]]],
    job_updated_at: dict[str, datetime],
    topic_names: dict[str, str],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "conversation_id": conversation,
        "customer_id": next((r["customerId"] for _, _, _, r in entries if r.get("customerId") is not None), None),
        "first_item_at": entries[0][0],
        "last_item_at": entries[-1][0],
        "items": len(entries),
        "_job_updated_at": max(job_updated_at[job] for _, _, job, _ in entries),
    }
    first_contact = None
    responses = []  # (response time, item id, agent id)
    automated = []
    statuses = []
    topics: list[str] = []
    agents: set[str] = set()
    counts = dict.fromkeys(
        ("customer_messages", "agent_messages", "automated_messages", "notes", "calls", "calls_answered"), 0
    )
    call_micros = 0
    for at, item_id, _, record in entries:
        content = record.get("content") if isinstance(record.get("content"), dict) else {}
        kind = content.get("type")
        initiator, initiator_id = _kind(record.get("initiator"))
        responder, responder_id = _kind(record.get("responder"))
        agents.update(i for t, i in ((initiator, initiator_id), (responder, responder_id)) if t == "AGENT" and i)
        is_message = kind in MESSAGE_TYPES
        answered = instant(content.get("answeredAt")) if kind == "PHONE_CALL" else None
        if initiator == "CUSTOMER" and (is_message or kind == "PHONE_CALL") and first_contact is None:
            first_contact = (at, kind)
        if is_message and initiator == "CUSTOMER":
            counts["customer_messages"] += 1
        if is_message and initiator == "AGENT":
            counts["agent_messages"] += 1
        if is_message and initiator in AUTOMATED:
            counts["automated_messages"] += 1
            automated.append(at)
        if initiator == "AGENT" and (is_message or answered is not None):
            responses.append((at, item_id, initiator_id))
        elif answered is not None and responder == "AGENT":
            responses.append((answered, item_id, responder_id))
        if kind == "CONVERSATION_NOTE":
            counts["notes"] += 1
        if kind == "PHONE_CALL":
            counts["calls"] += 1
            if answered is not None:
                counts["calls_answered"] += 1
                completed = instant(content.get("completedAt"))
                if completed is not None and completed >= answered:
                    call_micros += (completed - answered) // _MICROSECOND
        if kind == "CONVERSATION_STATUS_CHANGE" and content.get("status") in ("OPEN", "CLOSED"):
            statuses.append((at, content["status"]))
        if kind == "TOPIC_CHANGE":
            for topic in _strings(content.get("removedTopicIds")):
                if topic in topics:
                    topics.remove(topic)
            for topic in _strings(content.get("addedTopicIds")):
                if topic in topics:
                    topics.remove(topic)
                topics.append(topic)
    fcm = first_contact[0] if first_contact else None
    answers = sorted(r for r in responses if fcm is not None and r[0] >= fcm)
    closes = [at for at, status in statuses if status == "CLOSED"]
    status = statuses[-1][1] if statuses else "OPEN"
    row.update(counts)
    row.update(
        channel=first_contact[1] if first_contact else None,
        first_customer_message_at=fcm,
        first_agent_response_at=answers[0][0] if answers else None,
        first_responder_agent_id=answers[0][2] if answers else None,
        first_response_seconds=seconds(answers[0][0], fcm) if answers and fcm else None,
        first_automated_response_at=min((at for at in automated if fcm is not None and at >= fcm), default=None),
        first_closed_at=min(closes, default=None),
        last_closed_at=max(closes, default=None),
        resolution_seconds=seconds(closes[-1], fcm)
        if status == "CLOSED" and fcm is not None and closes and max(closes) >= fcm
        else None,
        times_reopened=sum(
            1 for (_, before), (_, after) in pairwise(statuses) if (before, after) == ("CLOSED", "OPEN")
        ),
        status=status,
        topic_ids=topics,
        topic_names=[topic_names.get(topic) for topic in topics],
        agent_ids=sorted(agents),
        call_seconds=call_micros / 1e6,
    )
    return row


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
