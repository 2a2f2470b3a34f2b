-- One row per conversation. Reads analytics_items (the typed items of the conversations being
-- rebuilt: all of them, or those touched by new export jobs) and analytics_topics.
-- Items are ordered by (item_at, item_id) wherever order matters.
WITH items AS (
    FROM analytics_items
),
totals AS (
    SELECT
        conversation_id,
        first(customer_id ORDER BY item_at, item_id) FILTER (WHERE customer_id IS NOT NULL) AS customer_id,
        first(content_type ORDER BY item_at, item_id) FILTER (WHERE is_customer_contact) AS channel,
        min(item_at) AS first_item_at,
        min(item_at) FILTER (WHERE is_customer_contact) AS first_customer_message_at,
        count(*) FILTER (WHERE is_automated_message) AS automated_messages,
        min(item_at) FILTER (WHERE content_type = 'CONVERSATION_STATUS_CHANGE' AND status = 'CLOSED') AS first_closed_at,
        max(item_at) FILTER (WHERE content_type = 'CONVERSATION_STATUS_CHANGE' AND status = 'CLOSED') AS last_closed_at,
        list_sort(list_distinct(flatten(list([initiator_agent_id, responder_agent_id])))) AS agent_ids,
        count(*) FILTER (WHERE is_message AND initiator_type = 'CUSTOMER') AS customer_messages,
        count(*) FILTER (WHERE is_message AND initiator_type = 'AGENT') AS agent_messages,
        count(*) FILTER (WHERE content_type = 'CONVERSATION_NOTE') AS notes,
        count(*) FILTER (WHERE content_type = 'PHONE_CALL') AS calls,
        count(*) FILTER (WHERE is_answered_call) AS calls_answered,
        coalesce(sum(call_microseconds), 0) / 1e6 AS call_seconds,
        count(*) AS items,
        max(item_at) AS last_item_at,
        max(_job_updated_at) AS _job_updated_at
    FROM items
    GROUP BY conversation_id
),
responses AS (
    -- Only what happens at or after the customer's first message answers it.
    SELECT
        conversation_id,
        min(i.response_at) FILTER (WHERE i.response_at >= t.first_customer_message_at) AS first_agent_response_at,
        first(i.response_agent_id ORDER BY i.response_at, i.item_id)
            FILTER (WHERE i.response_at >= t.first_customer_message_at) AS first_responder_agent_id,
        min(i.item_at) FILTER (WHERE i.is_automated_message AND i.item_at >= t.first_customer_message_at)
            AS first_automated_response_at
    FROM items AS i
    JOIN totals AS t USING (conversation_id)
    WHERE t.first_customer_message_at IS NOT NULL
      AND (i.response_at IS NOT NULL OR i.is_automated_message)
    GROUP BY conversation_id
),
status_changes AS (
    SELECT
        conversation_id,
        item_at,
        item_id,
        status,
        lag(status) OVER (PARTITION BY conversation_id ORDER BY item_at, item_id) AS previous_status
    FROM items
    WHERE content_type = 'CONVERSATION_STATUS_CHANGE' AND status IN ('OPEN', 'CLOSED')
),
statuses AS (
    SELECT
        conversation_id,
        last(status ORDER BY item_at, item_id) AS status,
        count(*) FILTER (WHERE status = 'OPEN' AND previous_status = 'CLOSED') AS times_reopened
    FROM status_changes
    GROUP BY conversation_id
),
topic_events AS (
    -- Within one item, removals apply before additions; within a list, in list order.
    SELECT conversation_id, item_at, item_id, 0 AS phase, false AS added,
        unnest(removed_topic_ids) AS topic_id, unnest(range(len(removed_topic_ids))) AS position
    FROM items
    WHERE content_type = 'TOPIC_CHANGE' AND len(removed_topic_ids) > 0
    UNION ALL
    SELECT conversation_id, item_at, item_id, 1 AS phase, true AS added,
        unnest(added_topic_ids) AS topic_id, unnest(range(len(added_topic_ids))) AS position
    FROM items
    WHERE content_type = 'TOPIC_CHANGE' AND len(added_topic_ids) > 0
),
last_topic_events AS (
    -- A topic is applied when its last event added it.
    FROM topic_events
    WHERE topic_id IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY conversation_id, topic_id ORDER BY item_at DESC, item_id DESC, phase DESC, position DESC
    ) = 1
),
topics AS (
    SELECT
        e.conversation_id,
        list(e.topic_id ORDER BY e.item_at, e.item_id, e.position) AS topic_ids,
        list(t.name ORDER BY e.item_at, e.item_id, e.position) AS topic_names
    FROM last_topic_events AS e
    LEFT JOIN analytics_topics AS t ON t.id = e.topic_id
    WHERE e.added
    GROUP BY e.conversation_id
)
SELECT
    t.conversation_id,
    t.customer_id,
    t.channel,
    t.first_item_at,
    t.first_customer_message_at,
    r.first_agent_response_at,
    r.first_responder_agent_id,
    (epoch_us(r.first_agent_response_at) - epoch_us(t.first_customer_message_at)) / 1e6 AS first_response_seconds,
    r.first_automated_response_at,
    t.automated_messages,
    t.first_closed_at,
    t.last_closed_at,
    CASE WHEN s.status = 'CLOSED' AND t.last_closed_at >= t.first_customer_message_at
        THEN (epoch_us(t.last_closed_at) - epoch_us(t.first_customer_message_at)) / 1e6
    END AS resolution_seconds,
    coalesce(s.times_reopened, 0) AS times_reopened,
    coalesce(s.status, 'OPEN') AS status,
    coalesce(tp.topic_ids, []::VARCHAR[]) AS topic_ids,
    coalesce(tp.topic_names, []::VARCHAR[]) AS topic_names,
    t.agent_ids,
    t.customer_messages,
    t.agent_messages,
    t.notes,
    t.calls,
    t.calls_answered,
    t.call_seconds,
    t.items,
    t.last_item_at,
    t._job_updated_at
FROM totals AS t
LEFT JOIN responses AS r USING (conversation_id)
LEFT JOIN statuses AS s USING (conversation_id)
LEFT JOIN topics AS tp USING (conversation_id)
