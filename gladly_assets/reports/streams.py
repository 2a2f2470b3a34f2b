"""Gladly's report streams, declared once as data.

The partitioned assets, their checks, the refresh sensor, the CSV parser's
expectations and the README's table list are all generated from ``STREAMS``;
adding a stream means adding one ``ReportStream`` here. Headers are Gladly's
(see the Reports API contract); the stored column names are their snake_case.
"""

from __future__ import annotations

from gladly_assets.report_schema import (
    EVENT_KEY_COLUMN,
    ColumnKind,
    ReportColumn,
    ReportStream,
    normalize_header,
)


def _col(header: str, kind: ColumnKind, description: str, *aliases: str) -> ReportColumn:
    return ReportColumn(normalize_header(header), kind, description, aliases, header)


_CONVERSATION_COLUMNS = (
    _col("Created At", "instant", "When the conversation was created (places the row in its day)."),
    _col("Conversation ID", "text", "Gladly conversation id (key)."),
    _col("Customer ID", "text", "Customer who owns the conversation."),
    _col("Conversation Link", "text", "URL of the conversation in Gladly."),
    _col("Status", "text", "OPEN, CLOSED or MERGED."),
    _col("Assigned Agent ID - Current", "text", "Agent assigned now."),
    _col("Assigned Agent Name - Current", "text", "Name of the agent assigned now."),
    _col("Inbox ID - Current", "text", "Inbox assigned now."),
    _col("Inbox Name - Current", "text", "Name of the inbox assigned now."),
    _col("First Closed At", "instant", "First close; empty if never closed."),
    _col("Last Closed At", "instant", "Latest close."),
    _col("Initiator Type - Created", "text", "Who created it: Agent, Application, Customer or System."),
    _col("Initiator Agent ID - Created", "text", "Agent who created it, if any."),
    _col("Initiator Agent Name - Created", "text", "Name of that agent."),
    _col("Inbox ID - Created", "text", "Inbox at creation."),
    _col("Inbox Name - Created", "text", "Name of the inbox at creation."),
    _col("Assigned Agent ID - Created", "text", "Agent assigned at creation."),
    _col("Assigned Agent Name - Created", "text", "Name of that agent."),
    _col("Initiator Type - Last Closed", "text", "Who performed the last close."),
    _col("Initiator Agent ID - Last Closed", "text", "Agent who performed the last close."),
    _col("Initiator Agent Name - Last Closed", "text", "Name of that agent."),
    _col("Initiator Rule ID - Last Closed", "text", "Rule that performed the last close, if automated."),
    _col("Inbox ID - Last Closed", "text", "Inbox at the last close."),
    _col("Inbox Name - Last Closed", "text", "Name of that inbox."),
    _col("Assigned Agent ID - Last Closed", "text", "Agent assigned at the last close."),
    _col("Assigned Agent Name - Last Closed", "text", "Name of that agent."),
    _col("Topics", "text", "Topic names, several in one cell."),
    _col("Topics with Hierarchy", "text", "Topics with their parent topics, several in one cell."),
    _col("First Contact ID", "text", "First contact of the conversation."),
    _col("First Channel", "text", "Channel of the first contact (PHONE_CALL, CHAT, EMAIL, SMS, ...)."),
    _col("Second Channel", "text", "Channel of the second contact."),
    _col("Third Channel", "text", "Channel of the third contact."),
    _col("Last Channel", "text", "Channel of the latest contact."),
    _col(
        "Created-to-First Closed Time in seconds",
        "seconds",
        "Seconds from creation to the first close.",
        "created_to_first_closed_time",
    ),
    _col(
        "Created-to-Last Closed Time in seconds",
        "seconds",
        "Seconds from creation to the last close.",
        "created_to_last_closed_time",
    ),
    _col(
        "Conversation Handle Time in seconds",
        "seconds",
        "Total agent handle time in seconds; grows after the day.",
        "conversation_handle_time",
    ),
    _col("Is FCR Eligible", "boolean", "Counts toward first-contact resolution."),
    _col("Is FCR Success", "boolean", "Resolved at the first contact."),
    _col("Merged Conversations", "text", "Conversations merged into this one."),
    _col("Count of Contacts", "count", "Contacts in the conversation."),
    _col("Count of Channels", "count", "Distinct channels used."),
    _col("Count of Notes", "count", "Internal notes."),
    _col("Count of Agents Assigned", "count", "Agents assigned over its life.", "count_of_agents"),
    _col("Count of Inboxes Assigned", "count", "Inboxes assigned over its life."),
    _col("Times Agent Unassigned by Rule", "count", "Times automation removed the agent."),
    _col("Times Closed", "count", "Closes."),
    _col("Times Reopened", "count", "Reopens."),
    _col("Times Topic Added", "count", "Topic additions."),
    _col("Times Topic Removed", "count", "Topic removals."),
    _col("Payment Requests - Completed", "count", "Payment requests paid."),
    _col("Payment Requests - Declined", "count", "Payment requests declined."),
    _col("Payment Amount - Completed USD", "decimal", "Amount paid, USD."),
    _col("Payment Amount - Declined USD", "decimal", "Amount declined, USD."),
)

_CONTACT_COLUMNS = (
    _col("Queued At", "instant", "Queued (inbound) or initiated (outbound); places the row in its day."),
    _col("Customer ID", "text", "Customer."),
    _col("Conversation ID", "text", "Parent conversation."),
    _col("Contact ID", "text", "Gladly contact id (key)."),
    _col("Conversation Link", "text", "Link to the conversation in Gladly.", "link"),
    _col("Channel", "text", "PHONE_CALL, CHAT, SMS, FB_MESSENGER, WHATSAPP, EMAIL, VOICEMAIL, ..."),
    _col("Direction", "text", "INBOUND or OUTBOUND."),
    _col("Contact Initiator", "text", "Customer, Agent, Automation, Internal, External, Application or System."),
    _col("Entry Point", "text", "Address an inbound contact reached."),
    _col("Final IVR Selection", "text", "Last IVR choice."),
    _col("Fulfilled Type", "text", "How the SLA was fulfilled."),
    _col("Status", "text", "End state of the contact."),
    _col("Inbox When Queued", "text", "Inbox at queue time."),
    _col("Inbox When Ended", "text", "Inbox at the end."),
    _col("Agent When Ended", "text", "Agent at the end."),
    _col("Offered At", "instant", "First offer to an agent."),
    _col("Accepted At", "instant", "First acceptance."),
    _col("Fulfilled At", "instant", "SLA fulfilled (first response)."),
    _col("Due At", "instant", "SLA due time."),
    _col("Ended At", "instant", "Contact ended; empty while open."),
    _col("Answered At (Outbound)", "instant", "Customer answered an outbound contact."),
    _col("SLA Target (sec)", "seconds", "SLA target applied, seconds."),
    _col("Queued-to-Fulfilled (sec)", "seconds", "Wait until fulfilled, seconds.", "queuedtofulfilled_sec"),
    _col(
        "Queued-to-Fulfilled within Business Hours (sec)",
        "seconds",
        "Wait until fulfilled within business hours, seconds.",
        "queuedtofulfilled_within_business_hours_sec",
    ),
    _col("Queued-to-Accepted (sec)", "seconds", "Wait until accepted, seconds.", "queuedtoaccepted_sec"),
    _col("Queued-to-Ended (sec)", "seconds", "Queue to end, seconds.", "queuedtoended_sec"),
    _col("Accepted-to-Fulfilled (sec)", "seconds", "Accept to fulfil, seconds.", "acceptedtofulfilled_sec"),
    _col("Seconds Within (-) or Over (+) SLA", "seconds", "Signed margin to the SLA due time, seconds."),
    _col("Fulfilled-to-Ended (sec)", "seconds", "Fulfil to end, seconds.", "fulfilledtoended_sec"),
    _col("Fulfilled by Contact ID", "text", "Contact whose reply fulfilled this one."),
    _col("Contact Handle Time (sec)", "seconds", "Agent time while the contact was open, seconds."),
    _col("After Contact Time (sec)", "seconds", "Agent time after the end, seconds; grows after the day."),
    _col("Total Contact Handle Time (sec)", "seconds", "Handle plus after-contact time, seconds."),
    _col("Total Talk Time", "seconds", "Voice talk time."),
    _col("Hold Time Total (sec)", "seconds", "All hold time, seconds."),
    _col("Hold Time - Manual (sec)", "seconds", "Manual holds, seconds."),
    _col("Hold Time - Warm Transfer (sec)", "seconds", "Warm-transfer holds, seconds."),
    _col("Hold Time - Cold Transfer (sec)", "seconds", "Cold-transfer holds, seconds."),
    _col("Hold Time - Conference (sec)", "seconds", "Conference holds, seconds."),
    _col("Messages Total", "count", "All messages."),
    _col("Messages from Customer", "count", "Messages from the customer."),
    _col("Messages from Agent", "count", "Messages from agents."),
    _col("Messages from Rules", "count", "Messages from automation."),
    _col("Messages from API", "count", "Messages sent through the API."),
    _col("Avg. Agent Reply Time (sec)", "seconds", "Mean agent reply gap, seconds."),
    _col("Avg. Customer Reply Time (sec)", "seconds", "Mean customer reply gap, seconds."),
    _col("Times Offered", "count", "Offers."),
    _col("Times Accepted", "count", "Acceptances."),
    _col("Times Missed", "count", "Offers that timed out."),
    _col("Times Declined", "count", "Offers declined."),
    _col("Times Transferred", "count", "Transfers."),
    _col("Times On Hold Total", "count", "All holds."),
    _col("Times On Hold - Manual", "count", "Manual holds."),
    _col("Times On Hold - Warm Transfer", "count", "Warm-transfer holds."),
    _col("Times On Hold - Cold Transfer", "count", "Cold-transfer holds."),
    _col("Times On Hold - Conference", "count", "Conference holds."),
    _col("Payment Requests - Completed", "count", "Payment requests paid."),
    _col("Payment Requests - Declined", "count", "Payment requests declined."),
    _col("Payment Amount - Completed USD", "decimal", "Amount paid, USD."),
    _col("Payment Amount - Declined USD", "decimal", "Amount declined, USD."),
)

_EVENT_COMMON = (
    _col("Timestamp", "instant", "When the event was recorded (places the row in its day)."),
    _col("Event Type", "text", "What happened, e.g. CONVERSATION/CLOSED or CONTACT/OFFERED."),
)
_INITIATOR_AND_ASSIGNEE = (
    _col("Initiator Type", "text", "CUSTOMER, AGENT, AUTOMATION, INTERNAL, EXTERNAL, APPLICATION or SYSTEM."),
    _col("Initiator ID", "text", "Acting agent or rule."),
    _col("Initiator Agent Name", "text", "Acting agent's name."),
    _col("Assigned Inbox ID", "text", "Inbox before the event."),
    _col("Assigned Inbox Name", "text", "Name of that inbox."),
    _col("Assigned Agent ID", "text", "Agent before the event."),
    _col("Assigned Agent Name", "text", "Name of that agent."),
)

_CONVERSATION_TIMESTAMP_COLUMNS = (
    *_EVENT_COMMON,
    _col("Conversation ID", "text", "Conversation."),
    _col("Customer ID", "text", "Customer; for CUSTOMER/MERGED, the survivor."),
    *_INITIATOR_AND_ASSIGNEE,
    _col("Topic ID", "text", "Topic of a TOPIC_* event."),
    _col("Topic Name", "text", "Name of that topic."),
    _col("Newly Assigned Inbox ID", "text", "Inbox after an assignee update."),
    _col("Newly Assigned Inbox Name", "text", "Name of that inbox."),
    _col("Newly Assigned Agent ID", "text", "Agent after an assignee update."),
    _col("Newly Assigned Agent Name", "text", "Name of that agent."),
    _col("Assignment Update Reason", "text", "Why the assignment changed."),
    _col("Merged Customer ID", "text", "Customer absorbed by a merge."),
    _col("Merged Conversation ID", "text", "Conversation absorbed by a merge."),
)

_CONTACT_TIMESTAMP_COLUMNS = (
    *_EVENT_COMMON,
    _col("Contact ID", "text", "Contact."),
    _col("Conversation ID", "text", "Parent conversation."),
    _col("Customer ID", "text", "Customer."),
    _col("Channel", "text", "Channel of the contact."),
    *_INITIATOR_AND_ASSIGNEE,
)

_WORK_SESSION_COLUMNS = (
    _col("id", "text", "Work-session id; empty until the contact ends."),
    _col("contact_session_id", "text", "Contact (key, with agent_id)."),
    _col("contact_session_created_at", "instant", "Contact created."),
    _col("customer_id", "text", "Customer."),
    _col("conversation_id", "text", "Conversation."),
    _col("inbox_id", "text", "Inbox."),
    _col("channel", "text", "Channel."),
    _col("direction", "text", "INBOUND or OUTBOUND."),
    _col("agent_accepted_at", "instant", "This agent accepted."),
    _col("contact_session_routed_at", "instant", "Contact routed."),
    _col("agent_id", "text", "Agent (key, with contact_session_id); empty if no agent handled it."),
    _col("sla_fulfilled_at", "instant", "SLA fulfilled."),
    _col(
        "contact_session_ended_at",
        "instant",
        "Contact ended; empty while open. Places the row in its day (its creation day while open).",
    ),
    _col("status", "text", "Contact status."),
    _col("within_sla", "boolean", "Fulfilled before the SLA due time."),
    _col("work_session_handle_time_sec", "seconds", "Handle time, seconds; filled once the contact ends."),
    _col("work_session_after_contact_time_sec", "seconds", "After-contact time, seconds; grows after the end."),
    _col("work_session_unknown_time_sec", "seconds", "Unaccounted time, seconds; grows after the end."),
    _col("accepted_inbox_id", "text", "Inbox the agent accepted in."),
)


def _all(columns: tuple[ReportColumn, ...]) -> tuple[str, ...]:
    return tuple(column.name for column in columns)


STREAMS: tuple[ReportStream, ...] = (
    ReportStream(
        name="conversations",
        metric_set="ConversationExportReport",
        description="One row per conversation with its status, closes, topics, channels, counts and handle time.",
        columns=_CONVERSATION_COLUMNS,
        time_column="created_at",
        key=("conversation_id",),
        refresh_days=30,
    ),
    ReportStream(
        name="contacts",
        metric_set="ContactExportReportV3",
        description=(
            "One row per contact: queued, offered, accepted, fulfilled and ended times, the SLA target and "
            "seconds within or over it, handle and after-contact time."
        ),
        columns=_CONTACT_COLUMNS,
        time_column="queued_at",
        key=("contact_id",),
        refresh_days=30,
        takes_instants=True,
    ),
    ReportStream(
        name="conversation_timestamps",
        metric_set="ConversationTimestampsReport",
        description="One row per conversation event (created, closed, reopened, topics, assignments, notes, merges).",
        columns=_CONVERSATION_TIMESTAMP_COLUMNS,
        time_column="timestamp",
        key=(EVENT_KEY_COLUMN,),
        refresh_days=0,
        event_columns=_all(_CONVERSATION_TIMESTAMP_COLUMNS),
    ),
    ReportStream(
        name="contact_timestamps",
        metric_set="ContactTimestampsReport",
        description="One row per contact event (started, offered, accepted, fulfilled, holds, messages, ended).",
        columns=_CONTACT_TIMESTAMP_COLUMNS,
        time_column="timestamp",
        key=(EVENT_KEY_COLUMN,),
        refresh_days=0,
        event_columns=_all(_CONTACT_TIMESTAMP_COLUMNS),
    ),
    ReportStream(
        name="work_session_events",
        metric_set="WorkSessionEventsReportV4",
        description="One row per contact and agent who worked on it: acceptance, SLA, handle and after-contact time.",
        columns=_WORK_SESSION_COLUMNS,
        time_column="contact_session_ended_at",
        key=("contact_session_id", "agent_id"),
        refresh_days=7,
        takes_instants=True,
        requires_instants=True,
        nullable_key=("agent_id",),
    ),
)

STREAMS_BY_NAME: dict[str, ReportStream] = {stream.name: stream for stream in STREAMS}
