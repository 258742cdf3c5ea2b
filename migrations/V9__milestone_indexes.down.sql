-- V9 down: removes what V9__milestone_indexes.sql created -- the five indexes -- and gives
-- the audit column back its V4 name, `memory_operation`.

DROP INDEX audit_memory_entry_id_idx;
DROP INDEX audit_memory_operation_type_idx;
DROP INDEX checkpoints_created_at_idx;
DROP INDEX agents_spawned_at_idx;
DROP INDEX tasks_submitted_at_idx;

ALTER TABLE audit RENAME COLUMN memory_operation_type TO memory_operation;
