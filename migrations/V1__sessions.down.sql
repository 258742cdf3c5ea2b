-- V1 down: removes what V1__sessions.sql created -- the `sessions` table and its indexes.
-- Runs only after V2..V6 are rolled back, so no table references `sessions` any more.

DROP INDEX sessions_status_idx;
DROP INDEX sessions_app_user_idx;
DROP TABLE sessions;
