-- V12: a unique id per metrics sample, so that a sample written to the spill file while
-- the database was unavailable (strata-repo's metrics spill, `<db>.metrics-spill.jsonl`)
-- is replayed exactly once: replay skips a uid that is already in the table.
-- Adds the column `uid` (32 lowercase hex digits: 128 random bits made at record time)
-- and a UNIQUE index on the rows that have one. Samples recorded before V12 keep NULL:
-- an id invented now would claim an identity those rows never had; NULLs are distinct
-- for the UNIQUE index, and the partial index leaves them out.

ALTER TABLE metrics ADD COLUMN uid TEXT CHECK (uid IS NULL OR length(uid) = 32);

-- Replay's "is this sample already in?": WHERE uid = ?. Every existing row has a NULL
-- uid, which the partial index leaves out, so no duplicate can make it fail:
-- strata:allow unique-index-on-existing-table
CREATE UNIQUE INDEX metrics_uid_idx ON metrics (uid) WHERE uid IS NOT NULL;
