-- Per-minute aggregates of firetail's access logs: Kinesis Data Analytics for SQL (the
-- original shape). FOR EXISTING APPLICATIONS ONLY: AWS stopped accepting new SQL
-- applications in October 2025; new deployments use the Flink shape (config/aws/flink). The input stream SOURCE_SQL_STREAM_001 holds the LOGTOJSON
-- COMBINEDAPACHELOG records as mapped in sql-application.json. Every field arrives as a
-- VARCHAR ("-" became null), so "response" and "bytes" are cast here.
--
-- Output rows (one in-application stream, three pumps), the same documents as the Flink
-- shape's aggregate.sql:
--   kind = 'minute':     window_start, requests, bytes, status_2xx..status_5xx,
--                        error_rate (share of 4xx and 5xx), distinct_clients
--   kind = 'top_path':   window_start, item (the path, query string cut), requests
--   kind = 'top_client': window_start, item (the client host), requests
-- Minutes are event time (the log's own timestamp, offset applied). KDA closes groups
-- on ROWTIME, so a minute whose records straddle a ROWTIME step yields two 'minute'
-- rows; sum them. Top-k is TOP_K_ITEMS_TUMBLING: approximate and processing-time. The
-- Flink shape is exact and keeps one document per minute.
--
-- Distinct clients: the SQL reference allows COUNT(DISTINCT ...) only over a finite
-- group, so not in a streaming GROUP BY; they are counted by a separate pump that first
-- reduces the stream to distinct (minute, client) rows per 60 s step, then counts them
-- (the shape the reference gives for an exact distinct count). Its rows are 'minute' rows
-- carrying only distinct_clients; a minute split across steps yields partial counts
-- whose sum can exceed the true number.

CREATE OR REPLACE STREAM "PARSED_STREAM" (
    "event_time" TIMESTAMP,
    "client" VARCHAR(256),
    "target" VARCHAR(4096),
    "status" INTEGER,
    "bytes_sent" BIGINT);

CREATE OR REPLACE PUMP "PARSE_PUMP" AS INSERT INTO "PARSED_STREAM"
SELECT STREAM
    CHAR_TO_TIMESTAMP('dd/MMM/yyyy:HH:mm:ss Z', "datetime"),
    "host",
    SUBSTRING("request" FROM POSITION(' ' IN "request") + 1),
    CAST("response" AS INTEGER),
    CAST("bytes" AS BIGINT)
FROM "SOURCE_SQL_STREAM_001";

-- "target" is "/path?query HTTP/1.1" here; the path ends at the first space or "?".
CREATE OR REPLACE STREAM "PATHS_STREAM" ("path" VARCHAR(4096), "client" VARCHAR(256));

CREATE OR REPLACE PUMP "PATHS_PUMP" AS INSERT INTO "PATHS_STREAM"
SELECT STREAM
    CASE
        WHEN POSITION('?' IN "target") > 0
             AND (POSITION(' ' IN "target") = 0 OR POSITION('?' IN "target") < POSITION(' ' IN "target"))
            THEN SUBSTRING("target" FROM 1 FOR POSITION('?' IN "target") - 1)
        WHEN POSITION(' ' IN "target") > 0
            THEN SUBSTRING("target" FROM 1 FOR POSITION(' ' IN "target") - 1)
        ELSE "target"
    END,
    "client"
FROM "PARSED_STREAM";

CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    "kind" VARCHAR(16),
    "window_start" VARCHAR(24),
    "requests" BIGINT,
    "bytes" BIGINT,
    "status_2xx" BIGINT,
    "status_3xx" BIGINT,
    "status_4xx" BIGINT,
    "status_5xx" BIGINT,
    "error_rate" DOUBLE,
    "distinct_clients" BIGINT,
    "item" VARCHAR(4096));

CREATE OR REPLACE PUMP "MINUTE_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    ("kind", "window_start", "requests", "bytes", "status_2xx", "status_3xx", "status_4xx",
     "status_5xx", "error_rate")
SELECT STREAM
    'minute',
    TIMESTAMP_TO_CHAR('yyyy-MM-dd''T''HH:mm:ss''Z''', FLOOR("event_time" TO MINUTE)),
    COUNT(*),
    SUM(COALESCE("bytes_sent", 0)),
    SUM(CASE WHEN "status" BETWEEN 200 AND 299 THEN 1 ELSE 0 END),
    SUM(CASE WHEN "status" BETWEEN 300 AND 399 THEN 1 ELSE 0 END),
    SUM(CASE WHEN "status" BETWEEN 400 AND 499 THEN 1 ELSE 0 END),
    SUM(CASE WHEN "status" BETWEEN 500 AND 599 THEN 1 ELSE 0 END),
    CAST(SUM(CASE WHEN "status" BETWEEN 400 AND 599 THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*)
FROM "PARSED_STREAM"
GROUP BY FLOOR("event_time" TO MINUTE),
         STEP("PARSED_STREAM".ROWTIME BY INTERVAL '60' SECOND);

CREATE OR REPLACE PUMP "DISTINCT_CLIENTS_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    ("kind", "window_start", "distinct_clients")
SELECT STREAM
    'minute',
    TIMESTAMP_TO_CHAR('yyyy-MM-dd''T''HH:mm:ss''Z''', "d"."minute"),
    COUNT(*)
FROM (
    SELECT STREAM DISTINCT
        ROWTIME AS "window_time",
        FLOOR("event_time" TO MINUTE) AS "minute",
        "client",
        STEP("PARSED_STREAM".ROWTIME BY INTERVAL '60' SECOND)
    FROM "PARSED_STREAM"
) AS "d"
GROUP BY "d"."minute", STEP("d"."window_time" BY INTERVAL '60' SECOND);

CREATE OR REPLACE PUMP "TOP_PATHS_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    ("kind", "window_start", "item", "requests")
SELECT STREAM
    'top_path',
    TIMESTAMP_TO_CHAR('yyyy-MM-dd''T''HH:mm:ss''Z''', FLOOR(ROWTIME - INTERVAL '1' MINUTE TO MINUTE)),
    "ITEM",
    "ITEM_COUNT"
FROM TABLE(TOP_K_ITEMS_TUMBLING(
    CURSOR(SELECT STREAM * FROM "PATHS_STREAM"), 'path', 10, 60));

CREATE OR REPLACE PUMP "TOP_CLIENTS_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    ("kind", "window_start", "item", "requests")
SELECT STREAM
    'top_client',
    TIMESTAMP_TO_CHAR('yyyy-MM-dd''T''HH:mm:ss''Z''', FLOOR(ROWTIME - INTERVAL '1' MINUTE TO MINUTE)),
    "ITEM",
    "ITEM_COUNT"
FROM TABLE(TOP_K_ITEMS_TUMBLING(
    CURSOR(SELECT STREAM * FROM "PATHS_STREAM"), 'client', 10, 60));
