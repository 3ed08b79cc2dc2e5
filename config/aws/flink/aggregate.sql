-- Per-minute aggregates of firetail's access logs: Flink SQL (the current shape, and the
-- query scripts/test-flink and scripts/test-pipeline run on a local Flink against
-- independently computed counts).
--
-- Reads the table `access_log` that main.py declares over the source (the Kinesis data
-- stream in production, files in scripts/test-flink): the LOGTOJSON COMBINEDAPACHELOG
-- fields as STRINGs plus `event_time`, the log's own timestamp with its offset applied, as
-- the rowtime attribute. Defines the view `aggregates`: one document shape for three kinds
-- of rows, each with a stable `doc_id`:
--   kind = 'minute':     window_start, requests, bytes, status_2xx..status_5xx,
--                        error_rate (share of 4xx and 5xx), distinct_clients (exact);
--                        doc_id minute|<window_start>
--   kind = 'top_path':   window_start, rank (1..10), item = path (query cut), requests;
--                        doc_id top_path|<window_start>|<rank>
--   kind = 'top_client': the same for client hosts
-- Top rows: the 10 largest per minute, ties broken by item ascending.
--
-- Late data (docs/pipeline.md, "Late data"): the minutes are grouped with a regular
-- (non-windowed) aggregation, so the view is an updating one: a record that arrives after
-- its minute was first reported updates that minute's rows instead of being dropped. main.py
-- sends every new version of a row as a document, and the aggregates index's ingest
-- pipeline makes doc_id the document's _id and `requests` its version, so OpenSearch
-- keeps one document per row, the newest. A minute stays open until it has had no update
-- for the allowed lateness (the `aggregate` property group, 2 h by default: the state
-- TTL main.py sets); no watermark is involved.
-- Statements are separated by a semicolon at the end of a line.

CREATE TEMPORARY VIEW parsed AS
SELECT
    -- The minute, in UTC (main.py sets the session time zone): seconds written as 00.
    DATE_FORMAT(event_time, 'yyyy-MM-dd''T''HH:mm:00''Z''') AS window_start,
    `host` AS client,
    REGEXP_EXTRACT(`request`, '^[^ ]+ ([^ ?]*)', 1) AS path,
    TRY_CAST(`response` AS INT) AS status,
    COALESCE(TRY_CAST(`bytes` AS BIGINT), CAST(0 AS BIGINT)) AS bytes_sent
FROM access_log
WHERE event_time > TO_TIMESTAMP_LTZ(0, 3);

CREATE TEMPORARY VIEW minute_rows AS
SELECT
    'minute' AS kind,
    window_start,
    COUNT(*) AS requests,
    SUM(bytes_sent) AS `bytes`,
    SUM(CASE WHEN status BETWEEN 200 AND 299 THEN 1 ELSE 0 END) AS status_2xx,
    SUM(CASE WHEN status BETWEEN 300 AND 399 THEN 1 ELSE 0 END) AS status_3xx,
    SUM(CASE WHEN status BETWEEN 400 AND 499 THEN 1 ELSE 0 END) AS status_4xx,
    SUM(CASE WHEN status BETWEEN 500 AND 599 THEN 1 ELSE 0 END) AS status_5xx,
    CAST(SUM(CASE WHEN status BETWEEN 400 AND 599 THEN 1 ELSE 0 END) AS DOUBLE)
        / COUNT(*) AS error_rate,
    COUNT(DISTINCT client) AS distinct_clients
FROM parsed
GROUP BY window_start;

CREATE TEMPORARY VIEW path_counts AS
SELECT window_start, path AS item, COUNT(*) AS requests
FROM parsed
WHERE path IS NOT NULL
GROUP BY window_start, path;

CREATE TEMPORARY VIEW client_counts AS
SELECT window_start, client AS item, COUNT(*) AS requests
FROM parsed
WHERE client IS NOT NULL
GROUP BY window_start, client;

CREATE TEMPORARY VIEW top_paths AS
SELECT 'top_path' AS kind, window_start, item, requests, row_num
FROM (
    SELECT window_start, item, requests,
        ROW_NUMBER() OVER (PARTITION BY window_start ORDER BY requests DESC, item ASC) AS row_num
    FROM path_counts
)
WHERE row_num <= 10;

CREATE TEMPORARY VIEW top_clients AS
SELECT 'top_client' AS kind, window_start, item, requests, row_num
FROM (
    SELECT window_start, item, requests,
        ROW_NUMBER() OVER (PARTITION BY window_start ORDER BY requests DESC, item ASC) AS row_num
    FROM client_counts
)
WHERE row_num <= 10;

CREATE TEMPORARY VIEW top_rows AS
SELECT * FROM top_paths
UNION ALL
SELECT * FROM top_clients;

CREATE TEMPORARY VIEW aggregates AS
SELECT kind, window_start, requests, `bytes`, status_2xx, status_3xx, status_4xx, status_5xx,
    error_rate, distinct_clients, CAST(NULL AS STRING) AS item, CAST(NULL AS INT) AS `rank`,
    kind || '|' || window_start AS doc_id
FROM minute_rows
UNION ALL
SELECT kind, window_start, requests, CAST(NULL AS BIGINT), CAST(NULL AS INT), CAST(NULL AS INT),
    CAST(NULL AS INT), CAST(NULL AS INT), CAST(NULL AS DOUBLE), CAST(NULL AS BIGINT), item,
    CAST(row_num AS INT), kind || '|' || window_start || '|' || CAST(row_num AS STRING)
FROM top_rows;
