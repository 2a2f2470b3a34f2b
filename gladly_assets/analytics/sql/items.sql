-- Every conversation item, typed once, in the vocabulary the analytics tables are written in.
-- Reads analytics_raw_items: gladly.conversation_items with every expected column present
-- (NULL where a file never had it) and JSON columns holding valid JSON or NULL.
-- Items without a conversation id or without an RFC 3339 timestamp are left out here;
-- the builder counts them apart.
WITH parsed AS (
    -- Each JSON column parsed once, into the fields used; a field of another shape is NULL.
    SELECT
        id AS item_id,
        conversation_id,
        customer_id,
        timestamp,
        from_json(initiator, '{"type": "VARCHAR", "id": "VARCHAR"}') AS initiator,
        from_json(responder, '{"type": "VARCHAR", "id": "VARCHAR"}') AS responder,
        from_json(content, '{"type": "VARCHAR", "status": "VARCHAR", "answeredAt": "VARCHAR",
            "completedAt": "VARCHAR", "addedTopicIds": ["JSON"], "removedTopicIds": ["JSON"]}') AS content,
        _job_id,
        _job_updated_at
    FROM analytics_raw_items
    WHERE conversation_id IS NOT NULL AND is_rfc3339
),
typed AS (
    SELECT
        item_id,
        conversation_id,
        customer_id,
        TRY_CAST(timestamp AS TIMESTAMPTZ) AS item_at,
        initiator.type AS initiator_type,
        initiator.id AS initiator_id,
        responder.type AS responder_type,
        responder.id AS responder_id,
        content.type AS content_type,
        content.status AS status,
        TRY_CAST(content.answeredAt AS TIMESTAMPTZ) AS answered_at,
        TRY_CAST(content.completedAt AS TIMESTAMPTZ) AS completed_at,
        -- Topic ids are strings; anything else in these lists is ignored.
        list_transform(list_filter(content.addedTopicIds, lambda t: json_type(t) = 'VARCHAR'), lambda t: t ->> '$')
            AS added_topic_ids,
        list_transform(list_filter(content.removedTopicIds, lambda t: json_type(t) = 'VARCHAR'), lambda t: t ->> '$')
            AS removed_topic_ids,
        _job_id,
        _job_updated_at
    FROM parsed
),
classified AS (
    SELECT
        *,
        content_type IN (
            'CHAT_MESSAGE', 'EMAIL', 'SMS', 'WHATSAPP', 'FACEBOOK_MESSAGE', 'INSTAGRAM_DIRECT',
            'TWITTER', 'VOICEMAIL', 'VOICE_AI_MESSAGE'
        ) AS is_message,
        content_type = 'PHONE_CALL' AND answered_at IS NOT NULL AS is_answered_call
    FROM typed
)
SELECT
    *,
    timezone('UTC', item_at)::DATE AS day,
    initiator_type = 'CUSTOMER' AND (is_message OR content_type = 'PHONE_CALL') AS is_customer_contact,
    is_message AND initiator_type IN ('SYSTEM', 'AUTOMATION') AS is_automated_message,
    -- An agent's response: a message or answered call the agent initiated (at its timestamp),
    -- or a call someone else placed and the agent answered (at answeredAt).
    CASE
        WHEN initiator_type = 'AGENT' AND (is_message OR is_answered_call) THEN item_at
        WHEN is_answered_call AND responder_type = 'AGENT' THEN answered_at
    END AS response_at,
    CASE
        WHEN initiator_type = 'AGENT' AND (is_message OR is_answered_call) THEN initiator_id
        WHEN is_answered_call AND responder_type = 'AGENT' THEN responder_id
    END AS response_agent_id,
    CASE WHEN is_answered_call AND completed_at >= answered_at
        THEN epoch_us(completed_at) - epoch_us(answered_at) END AS call_microseconds,
    CASE WHEN initiator_type = 'AGENT' THEN initiator_id END AS initiator_agent_id,
    CASE WHEN responder_type = 'AGENT' THEN responder_id END AS responder_agent_id
FROM classified
WHERE item_at IS NOT NULL
