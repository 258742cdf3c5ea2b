-- V12 down: removes what V12__metric_uid.sql created -- the unique index and the `uid`
-- column (the ids of samples recorded since V12 are discarded; the samples stay).

DROP INDEX metrics_uid_idx;
ALTER TABLE metrics DROP COLUMN uid;
