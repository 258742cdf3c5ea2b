-- V9: milestone indexes -- the five indexes the schema milestone names that V1-V6 lack,
-- and the audit column under the milestone's name.
-- `audit.memory_operation` becomes `memory_operation_type` (RENAME COLUMN rewrites the
-- CHECK constraints that name it; no data moves). Then indexes on tasks(submitted_at),
-- agents(spawned_at), checkpoints(created_at), audit(memory_operation_type) and
-- audit(memory_entry_id): time-ordered listings and audit lookups by memory entry.

ALTER TABLE audit RENAME COLUMN memory_operation TO memory_operation_type;

CREATE INDEX tasks_submitted_at_idx ON tasks (submitted_at);
CREATE INDEX agents_spawned_at_idx ON agents (spawned_at);
CREATE INDEX checkpoints_created_at_idx ON checkpoints (created_at);
CREATE INDEX audit_memory_operation_type_idx ON audit (memory_operation_type);
CREATE INDEX audit_memory_entry_id_idx ON audit (memory_entry_id);
