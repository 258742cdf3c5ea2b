-- V6 down: removes what V6__flags_metrics.sql created -- the `metrics` and `flags`
-- tables and the metrics indexes.

DROP INDEX metrics_ts_idx;
DROP INDEX metrics_name_ts_idx;
DROP TABLE metrics;
DROP TABLE flags;
