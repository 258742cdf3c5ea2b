-- V11 down: removes what V11__audit_entry_uid.sql created -- the unique index and the
-- `uid` column (the ids of entries appended since V11 are discarded; the entries stay).

DROP INDEX audit_uid_idx;
ALTER TABLE audit DROP COLUMN uid;
