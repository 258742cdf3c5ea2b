-- V10 down: removes what V10__documents.sql created -- the `document_tags` and
-- `documents` tables and their indexes. The files of the store are left on disk.

DROP INDEX document_tags_tag_idx;
DROP TABLE document_tags;
DROP INDEX documents_deleted_idx;
DROP INDEX documents_sha256_idx;
DROP INDEX documents_name_idx;
DROP TABLE documents;
