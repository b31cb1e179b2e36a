/* ri_policy--0.8--0.9.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ri_policy UPDATE TO '0.9'" to load this file. \quit

-- The orphans of a validation pass under way, a row per batch (src/results.c,
-- RiRecorded): where equal keys have one jsonb form, a batch appends its
-- orphaned keys here, with their key_hash values and row counts, rather
-- than a row per key to _pending; the end of the pass adds up each key's
-- rows over both tables.
CREATE TABLE ri_policy._pending_batch (
	reference		bigint NOT NULL,
	keys			jsonb[] NOT NULL,
	key_hashes		integer[] NOT NULL,
	child_rows		bigint[] NOT NULL
);
CREATE INDEX _pending_batch_reference_idx ON ri_policy._pending_batch (reference);
COMMENT ON TABLE ri_policy._pending_batch IS
'ri_policy: orphaned keys of a validation pass under way, a row per batch';
SELECT pg_catalog.pg_extension_config_dump('ri_policy._pending_batch', '');

-- The key columns of the tables a pass reads, as it began (src/columns.c,
-- ri_columns_signature()): each table's OID, and each key column's
-- attribute number, type, typmod and collation.  A pass resumed on other
-- ones (a type or collation changed without a rewrite while it was
-- interrupted) starts over; so does one interrupted before 0.9, which did
-- not record them.
ALTER TABLE ri_policy._progress ADD COLUMN key_columns text;
