-- V7 down: removes what V7__cache_rate_limits.sql created -- the `rate_limits` and
-- `cache` tables and the cache indexes.

DROP TABLE rate_limits;
DROP INDEX cache_namespace_read_at_idx;
DROP INDEX cache_expires_at_idx;
DROP TABLE cache;
