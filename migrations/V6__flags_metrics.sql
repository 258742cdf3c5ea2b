-- V6: feature flags and metrics.
-- Creates:
--   * `flags`: one JSON value per flag name; a WITHOUT ROWID table clustered on its
--     PRIMARY KEY (name), so get and listing by name are always primary-key seeks, even
--     when statistics say the table is tiny; every set is audited by the repository in
--     the same transaction;
--   * `metrics`: append-mostly samples (timestamp, name, REAL value, JSON labels), with
--     indexes for a series' range query (name, ts) and for ranges/retention across all
--     names (ts).
-- Times are INTEGER milliseconds since the Unix epoch (UTC), set by the repositories.

CREATE TABLE flags (
    name        TEXT    NOT NULL PRIMARY KEY CHECK (name <> ''),
    value       TEXT    NOT NULL CHECK (json_valid(value)),
    description TEXT    NOT NULL DEFAULT '',
    updated_by  TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE metrics (
    id     INTEGER PRIMARY KEY,
    ts     INTEGER NOT NULL,
    name   TEXT    NOT NULL CHECK (name <> ''),
    value  REAL    NOT NULL,
    labels TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(labels))
) STRICT;

-- One series over a time range: WHERE name = ? AND ts >= ? AND ts < ? ORDER BY ts, id.
CREATE INDEX metrics_name_ts_idx ON metrics (name, ts);

-- All series over a time range, and retention: DELETE FROM metrics WHERE ts < ?.
CREATE INDEX metrics_ts_idx ON metrics (ts);
