-- V3 down: removes what V3__agents_checkpoints_state.sql created -- the `state`,
-- `checkpoints` and `agents` tables and their indexes.

DROP TABLE state;
DROP INDEX checkpoints_session_idx;
DROP TABLE checkpoints;
DROP INDEX agents_session_idx;
DROP INDEX agents_task_idx;
DROP TABLE agents;
