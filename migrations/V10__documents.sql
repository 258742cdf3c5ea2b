-- V10: the document store's rows (the files live beside the database, in
-- `documents.dir`, content-addressed by SHA-256; strata-repo's `Documents` owns both).
-- Creates:
--   * `documents`: one stored document: its name (never a path: no separator, `..`,
--     NUL or control character, enforced by strata-repo), the MIME type detected from
--     its content (the name's extension as a fallback), its size and SHA-256 (the
--     file's address in the store: identical content is stored once and shared),
--     free-form metadata (JSON), who created it, and `deleted_at` (soft delete: a
--     deleted row keeps its file until `purge` removes the row after the retention);
--   * `document_tags`: the tags of a document, one row each, so that a listing by
--     tag is an index search instead of a scan of JSON arrays. Deleting a document
--     row deletes its tags.
-- Times are INTEGER milliseconds since the Unix epoch (UTC), set by the repository.
-- Every index ends implicitly in `id` (the rowid), so keyset listings need no sort.

CREATE TABLE documents (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL CHECK (name <> ''),
    mime       TEXT    NOT NULL CHECK (mime <> ''),
    size       INTEGER NOT NULL CHECK (size >= 0),
    sha256     TEXT    NOT NULL CHECK (length(sha256) = 64),
    metadata   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at INTEGER NOT NULL,
    deleted_at INTEGER,
    created_by TEXT
) STRICT;

-- The newest live document of a name: WHERE name = ? ORDER BY id DESC.
CREATE INDEX documents_name_idx ON documents (name);

-- Whether any row (live or deleted) still references a file: WHERE sha256 = ?.
CREATE INDEX documents_sha256_idx ON documents (sha256);

-- Purge: rows deleted up to a time, WHERE deleted_at <= ?.
CREATE INDEX documents_deleted_idx ON documents (deleted_at);

CREATE TABLE document_tags (
    document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    tag         TEXT    NOT NULL CHECK (tag <> ''),
    PRIMARY KEY (document_id, tag)
) STRICT, WITHOUT ROWID;

-- The documents of a tag, keyset by id: WHERE tag = ? AND document_id > ?.
CREATE INDEX document_tags_tag_idx ON document_tags (tag, document_id);
