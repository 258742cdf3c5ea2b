-- V11: a unique id per audit entry, so that an entry written to the spill file while the
-- database was unavailable (strata-repo's audit spill, `<db>.audit-spill.jsonl`) is
-- replayed exactly once: replay skips a uid that is already in the table.
-- Adds the column `uid` (32 lowercase hex digits: 128 random bits made at append time)
-- and a UNIQUE index on the rows that have one. Rows appended before V11 keep NULL: the
-- table is append-only (its triggers refuse UPDATE), and an id invented now would claim
-- an identity those rows never had; NULLs are distinct for the UNIQUE index, and the
-- partial index leaves them out.

ALTER TABLE audit ADD COLUMN uid TEXT CHECK (uid IS NULL OR length(uid) = 32);

-- Replay's "is this entry already in?": WHERE uid = ?. Every existing row has a NULL
-- uid, which the partial index leaves out, so no duplicate can make it fail:
-- strata:allow unique-index-on-existing-table
CREATE UNIQUE INDEX audit_uid_idx ON audit (uid) WHERE uid IS NOT NULL;
