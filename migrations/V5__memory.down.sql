-- V5 down: removes what V5__memory.sql created -- the `memory_entries` table and its indexes.

DROP INDEX memory_entries_live_idx;
DROP INDEX memory_entries_version_idx;
DROP TABLE memory_entries;
