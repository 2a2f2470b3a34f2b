-- One row per agent and UTC day. Reads analytics_items, analytics_facts (conversation_facts),
-- analytics_agents, and scope_days: the days being rebuilt (all of them, or the days spanned by
-- conversations touched by new export jobs).
WITH items AS (
    SELECT * FROM analytics_items WHERE day IN (SELECT day FROM scope_days)
),
agent_items AS (
    -- One row per item and agent involved (as initiator, responder, or both).
    SELECT DISTINCT
        unnest(list_distinct([initiator_agent_id, responder_agent_id])) AS agent_id,
        item_id
    FROM items
    WHERE initiator_agent_id IS NOT NULL OR responder_agent_id IS NOT NULL
),
activity AS (
    SELECT
        a.agent_id,
        i.day,
        count(*) FILTER (WHERE i.initiator_agent_id = a.agent_id AND i.is_message) AS messages_sent,
        count(DISTINCT i.conversation_id) AS conversations_touched,
        count(DISTINCT i.conversation_id) FILTER (
            WHERE i.initiator_agent_id = a.agent_id
              AND i.content_type = 'CONVERSATION_STATUS_CHANGE' AND i.status = 'CLOSED'
        ) AS conversations_closed,
        count(*) FILTER (WHERE i.initiator_agent_id = a.agent_id AND i.content_type = 'CONVERSATION_NOTE') AS notes,
        count(*) FILTER (WHERE i.is_answered_call) AS calls,
        coalesce(sum(i.call_microseconds), 0) / 6e7 AS call_minutes
    FROM agent_items AS a
    JOIN items AS i USING (item_id)
    GROUP BY a.agent_id, i.day
),
first_responses AS (
    SELECT
        first_responder_agent_id AS agent_id,
        timezone('UTC', first_agent_response_at)::DATE AS day,
        count(*) AS conversations_first_responded,
        quantile_cont(first_response_seconds, 0.5) AS median_first_response_seconds,
        quantile_cont(first_response_seconds, 0.9) AS p90_first_response_seconds
    FROM analytics_facts
    WHERE first_responder_agent_id IS NOT NULL
      AND timezone('UTC', first_agent_response_at)::DATE IN (SELECT day FROM scope_days)
    GROUP BY ALL
)
SELECT
    agent_id,
    day,
    ag.name AS agent_name,
    ag.emailAddress AS agent_email,
    coalesce(a.messages_sent, 0) AS messages_sent,
    coalesce(a.conversations_touched, 0) AS conversations_touched,
    coalesce(a.conversations_closed, 0) AS conversations_closed,
    coalesce(f.conversations_first_responded, 0) AS conversations_first_responded,
    f.median_first_response_seconds,
    f.p90_first_response_seconds,
    coalesce(a.notes, 0) AS notes,
    coalesce(a.calls, 0) AS calls,
    coalesce(a.call_minutes, 0) AS call_minutes
FROM activity AS a
FULL OUTER JOIN first_responses AS f USING (agent_id, day)
LEFT JOIN analytics_agents AS ag ON ag.id = agent_id
