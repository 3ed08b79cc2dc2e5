-- Per-minute aggregates of firetail's access logs: Flink SQL (the current shape, and the
-- query scripts/test-flink runs on a local Flink against independently computed counts).
--
-- Reads the table `access_log` that main.py declares over the source (the Kinesis data
-- stream in production, files in the test): the LOGTOJSON COMBINEDAPACHELOG fields as
-- STRINGs plus `event_time`, the log's own timestamp with its offset applied, as the
-- rowtime attribute. Defines the view `aggregates`, whose rows main.py writes to the sink
-- (the aggregates Firehose). One document shape for three kinds of rows:
--   kind = 'minute':     window_start, requests, bytes, status_2xx..status_5xx,
--                        error_rate (share of 4xx and 5xx), distinct_clients (exact)
--   kind = 'top_path':   window_start, item = path (request target, query cut), requests
--   kind = 'top_client': window_start, item = client host, requests
-- Top rows: the 10 largest per minute, ties broken by item ascending.
-- Statements are separated by a semicolon at the end of a line.

CREATE TEMPORARY VIEW parsed AS
SELECT
    event_time,
    `host` AS client,
    REGEXP_EXTRACT(`request`, '^[^ ]+ ([^ ?]*)', 1) AS path,
    TRY_CAST(`response` AS INT) AS status,
    COALESCE(TRY_CAST(`bytes` AS BIGINT), CAST(0 AS BIGINT)) AS bytes_sent
FROM access_log;

CREATE TEMPORARY VIEW minute_rows AS
SELECT
    'minute' AS kind,
    DATE_FORMAT(window_start, 'yyyy-MM-dd''T''HH:mm:ss''Z''') AS window_start,
    COUNT(*) AS requests,
    SUM(bytes_sent) AS `bytes`,
    SUM(CASE WHEN status BETWEEN 200 AND 299 THEN 1 ELSE 0 END) AS status_2xx,
    SUM(CASE WHEN status BETWEEN 300 AND 399 THEN 1 ELSE 0 END) AS status_3xx,
    SUM(CASE WHEN status BETWEEN 400 AND 499 THEN 1 ELSE 0 END) AS status_4xx,
    SUM(CASE WHEN status BETWEEN 500 AND 599 THEN 1 ELSE 0 END) AS status_5xx,
    CAST(SUM(CASE WHEN status BETWEEN 400 AND 599 THEN 1 ELSE 0 END) AS DOUBLE)
        / COUNT(*) AS error_rate,
    COUNT(DISTINCT client) AS distinct_clients,
    CAST(NULL AS STRING) AS item
FROM TABLE(TUMBLE(TABLE parsed, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end;

CREATE TEMPORARY VIEW path_counts AS
SELECT window_start, window_end, path AS item, COUNT(*) AS requests
FROM TABLE(TUMBLE(TABLE parsed, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
WHERE path IS NOT NULL
GROUP BY window_start, window_end, path;

CREATE TEMPORARY VIEW client_counts AS
SELECT window_start, window_end, client AS item, COUNT(*) AS requests
FROM TABLE(TUMBLE(TABLE parsed, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
WHERE client IS NOT NULL
GROUP BY window_start, window_end, client;

CREATE TEMPORARY VIEW top_paths AS
SELECT 'top_path' AS kind, window_start, item, requests
FROM (
    SELECT window_start, window_end, item, requests,
        ROW_NUMBER() OVER (PARTITION BY window_start, window_end
                           ORDER BY requests DESC, item ASC) AS row_num
    FROM path_counts
)
WHERE row_num <= 10;

CREATE TEMPORARY VIEW top_clients AS
SELECT 'top_client' AS kind, window_start, item, requests
FROM (
    SELECT window_start, window_end, item, requests,
        ROW_NUMBER() OVER (PARTITION BY window_start, window_end
                           ORDER BY requests DESC, item ASC) AS row_num
    FROM client_counts
)
WHERE row_num <= 10;

CREATE TEMPORARY VIEW top_rows AS
SELECT * FROM top_paths
UNION ALL
SELECT * FROM top_clients;

CREATE TEMPORARY VIEW aggregates AS
SELECT kind, window_start, requests, `bytes`, status_2xx, status_3xx, status_4xx, status_5xx,
    error_rate, distinct_clients, item
FROM minute_rows
UNION ALL
SELECT kind, DATE_FORMAT(window_start, 'yyyy-MM-dd''T''HH:mm:ss''Z''') AS window_start,
    requests, CAST(NULL AS BIGINT), CAST(NULL AS INT), CAST(NULL AS INT), CAST(NULL AS INT),
    CAST(NULL AS INT), CAST(NULL AS DOUBLE), CAST(NULL AS BIGINT), item
FROM top_rows;
