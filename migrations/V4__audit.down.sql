-- V4 down: removes what V4__audit.sql created -- the append-only triggers, the indexes
-- and the `audit` table (rolling back V4 discards the audit log).

DROP TRIGGER audit_no_delete;
DROP TRIGGER audit_no_update;
DROP INDEX audit_ts_idx;
DROP INDEX audit_action_idx;
DROP INDEX audit_actor_idx;
DROP INDEX audit_task_idx;
DROP TABLE audit;
