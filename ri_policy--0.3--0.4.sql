/* ri_policy--0.3--0.4.sql: a cheaper change log for tracked references */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ri_policy UPDATE TO '0.4'" to load this file. \quit

-- Whether the change log of a reference has been kept since its last full
-- pass began: a full pass adds the reference's row, and a crash empties
-- this table with the change log, so that the next pass is full.  It was a
-- row with empty keys in the change log itself, where it could keep the
-- table from ever shrinking.
CREATE UNLOGGED TABLE ri_policy._sentinel (
	reference		text COLLATE "C" PRIMARY KEY
);
COMMENT ON TABLE ri_policy._sentinel IS
'ri_policy: tracked references whose change log is complete since their last full pass';
SELECT pg_catalog.pg_extension_config_dump('ri_policy._sentinel', '');
INSERT INTO ri_policy._sentinel
	SELECT DISTINCT reference FROM ri_policy._changed
	 WHERE pg_catalog.cardinality(keys) = 0;
DELETE FROM ri_policy._changed WHERE pg_catalog.cardinality(keys) = 0;

-- Which table a statement changed.  A key whose parent exists can have a
-- recorded violation only if the parent gained it since, which the parent's
-- trigger records: keys recorded from the child alone need re-checking only
-- when their parent is missing.  Rows recorded before this version, and by
-- triggers that track() created before it, count as from the parent, which
-- re-checks everything as before.
ALTER TABLE ri_policy._changed ADD COLUMN from_parent boolean NOT NULL DEFAULT true;

-- Appending a row per statement cost twice as much with this index, whose
-- every entry went to the same page.  A pass now reads the log once, in
-- physical order, in batches of whole blocks.
DROP INDEX ri_policy._changed_reference_idx;
