-- V2 down: removes what V2__tasks.sql created -- the `tasks` table and its indexes.
-- Runs only after V3..V6 are rolled back, so no table references `tasks` any more.

DROP INDEX tasks_unsuccessful_idx;
DROP INDEX tasks_queue_idx;
DROP INDEX tasks_session_idx;
DROP INDEX tasks_parent_idx;
DROP INDEX tasks_dedup_idx;
DROP INDEX tasks_lease_expiry_idx;
DROP INDEX tasks_claim_idx;
DROP TABLE tasks;
