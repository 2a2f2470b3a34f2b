-- One row per UTC day and channel, from the first day with an item to the last (ten years at most). Reads
-- analytics_facts (conversation_facts) and analytics_items. Rebuilt whole every time: a day's
-- backlog depends on every earlier day, and the table is small.
WITH facts AS (
    SELECT *, coalesce(channel, 'NONE') AS day_channel FROM analytics_facts
),
status_changes AS (
    SELECT
        conversation_id,
        day,
        status,
        -- A conversation is open from its first item on.
        coalesce(lag(status) OVER (PARTITION BY conversation_id ORDER BY item_at, item_id), 'OPEN') AS previous_status
    FROM analytics_items
    WHERE content_type = 'CONVERSATION_STATUS_CHANGE' AND status IN ('OPEN', 'CLOSED')
),
flips AS (
    SELECT s.conversation_id, s.day, s.status, f.day_channel
    FROM status_changes AS s
    JOIN facts AS f USING (conversation_id)
    WHERE s.status <> s.previous_status
),
all_backlog_changes AS (
    SELECT timezone('UTC', first_item_at)::DATE AS day, day_channel, 1 AS change FROM facts
    UNION ALL
    SELECT day, day_channel, CASE WHEN status = 'CLOSED' THEN -1 ELSE 1 END FROM flips
),
bounds AS (
    -- At most ten years of days up to the latest item: a timestamp from year 1 cannot make
    -- the table hundreds of thousands of days long. Older changes count from the first day.
    SELECT greatest(min(day), max(day) - 3652) AS first_day, max(day) AS last_day FROM all_backlog_changes
),
backlog_changes AS (
    SELECT greatest(c.day, b.first_day) AS day, c.day_channel, c.change
    FROM all_backlog_changes AS c CROSS JOIN bounds AS b
),
days AS (
    SELECT unnest(range(first_day, last_day + 1, INTERVAL 1 DAY))::DATE AS day FROM bounds
),
spine AS (
    SELECT d.day, c.day_channel FROM days AS d CROSS JOIN (SELECT DISTINCT day_channel FROM facts) AS c
),
backlog AS (
    SELECT
        s.day,
        s.day_channel,
        sum(coalesce(b.change, 0)) OVER (
            PARTITION BY s.day_channel ORDER BY s.day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS open_backlog
    FROM spine AS s
    LEFT JOIN (SELECT day, day_channel, sum(change) AS change FROM backlog_changes GROUP BY ALL) AS b
        USING (day, day_channel)
),
new_conversations AS (
    SELECT timezone('UTC', first_item_at)::DATE AS day, day_channel, count(*) AS new_conversations
    FROM facts GROUP BY ALL
),
closes AS (
    SELECT
        day,
        day_channel,
        count(DISTINCT conversation_id) FILTER (WHERE status = 'CLOSED') AS conversations_closed,
        count(DISTINCT conversation_id) FILTER (WHERE status = 'OPEN') AS conversations_reopened
    FROM flips GROUP BY ALL
),
first_responses AS (
    SELECT
        timezone('UTC', first_customer_message_at)::DATE AS day,
        day_channel,
        quantile_cont(first_response_seconds, 0.5) AS median_first_response_seconds,
        quantile_cont(first_response_seconds, 0.9) AS p90_first_response_seconds
    FROM facts WHERE first_customer_message_at IS NOT NULL GROUP BY ALL
),
resolutions AS (
    SELECT
        timezone('UTC', last_closed_at)::DATE AS day,
        day_channel,
        quantile_cont(resolution_seconds, 0.5) AS median_resolution_seconds
    FROM facts WHERE resolution_seconds IS NOT NULL GROUP BY ALL
)
SELECT
    b.day,
    b.day_channel AS channel,
    coalesce(n.new_conversations, 0) AS new_conversations,
    coalesce(c.conversations_closed, 0) AS conversations_closed,
    coalesce(c.conversations_reopened, 0) AS conversations_reopened,
    f.median_first_response_seconds,
    f.p90_first_response_seconds,
    r.median_resolution_seconds,
    b.open_backlog
FROM backlog AS b
LEFT JOIN new_conversations AS n USING (day, day_channel)
LEFT JOIN closes AS c USING (day, day_channel)
LEFT JOIN first_responses AS f USING (day, day_channel)
LEFT JOIN resolutions AS r USING (day, day_channel)
WHERE b.open_backlog > 0 OR n.new_conversations > 0 OR c.conversations_closed > 0
   OR c.conversations_reopened > 0 OR f.day IS NOT NULL OR r.day IS NOT NULL
