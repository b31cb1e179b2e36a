/* ri_policy--0.3--0.4.sql: a cheaper change log for tracked references */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ri_policy UPDATE TO '0.4'" to load this file. \quit

-- Whether the change log of a reference has been kept since its last full
-- pass began: a full pass adds the reference's row, and a crash empties
-- this table with the change log, so that the next pass is full.  It was a
-- row with empty keys in the change log itself.  (Any sentinel from 0.3 is
-- gone with the old log: the next passes are full ones.)
CREATE UNLOGGED TABLE ri_policy._sentinel (
	reference		text COLLATE "C" PRIMARY KEY
);
COMMENT ON TABLE ri_policy._sentinel IS
'ri_policy: tracked references whose change log is complete since their last full pass';
SELECT pg_catalog.pg_extension_config_dump('ri_policy._sentinel', '');

-- Tracked references get their triggers again: the triggers now also record
-- deletes from the child (whose orphans a pass must see go) and say which
-- table they are on.  That is done by the update to 0.5, which re-creates
-- every tracking trigger and comes with the library that runs this script
-- (a library runs only its own version's objects).  Here the tracked tables
-- are locked as CREATE TRIGGER would lock them, first, so that the update
-- locks them before the change log, in the order their writers do.  Since
-- deletes were not recorded before, no reference has a sentinel (the table
-- is new): the next pass of each is a full one.
DO $$
DECLARE
	t regclass;
BEGIN
	FOR t IN SELECT c.oid::pg_catalog.regclass FROM pg_catalog.pg_class c
			  WHERE c.oid IN (SELECT r.child::pg_catalog.oid FROM ri_policy._reference r
							   WHERE r.tracked_since IS NOT NULL
							  UNION
							  SELECT r.parent::pg_catalog.oid FROM ri_policy._reference r
							   WHERE r.tracked_since IS NOT NULL)
			  ORDER BY c.oid
	LOOP
		EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', t);
	END LOOP;
END
$$;

-- The change log, again: one row per statement as before, now saying which
-- table changed.  A key whose parent exists can have a recorded violation
-- only if the parent gained it since, which the parent's trigger records:
-- keys recorded from the child alone need re-checking only when their
-- parent is missing.
--
-- Its index on reference cost as much again as the row: every entry of a
-- reference went to the same leaf page.  Instead, the log is partitioned by
-- a hash of the reference, and a pass reads its reference's partition once,
-- in physical order, in batches of whole blocks; a reference with a large
-- backlog slows only the passes of references in the same partition.
--
-- The changes waiting are dropped with the old log: the tracked references
-- are tracked again below, which makes their next passes full ones.
-- (Dropping the table out of the extension first also removes it from the
-- extension's configuration tables, which DROP TABLE alone would not.)
ALTER EXTENSION ri_policy DROP TABLE ri_policy._changed;
DROP TABLE ri_policy._changed;
CREATE TABLE ri_policy._changed (
	reference		text COLLATE "C" NOT NULL,
	keys			text[],
	from_parent		boolean NOT NULL DEFAULT true	-- rows of a 0.3 dump: re-check all
) PARTITION BY HASH (reference);
COMMENT ON TABLE ri_policy._changed IS
'ri_policy: keys changed since the last validation of tracked references';
CREATE UNLOGGED TABLE ri_policy._changed_0 PARTITION OF ri_policy._changed
	FOR VALUES WITH (MODULUS 8, REMAINDER 0);
CREATE UNLOGGED TABLE ri_policy._changed_1 PARTITION OF ri_policy._changed
	FOR VALUES WITH (MODULUS 8, REMAINDER 1);
CREATE UNLOGGED TABLE ri_policy._changed_2 PARTITION OF ri_policy._changed
	FOR VALUES WITH (MODULUS 8, REMAINDER 2);
CREATE UNLOGGED TABLE ri_policy._changed_3 PARTITION OF ri_policy._changed
	FOR VALUES WITH (MODULUS 8, REMAINDER 3);
CREATE UNLOGGED TABLE ri_policy._changed_4 PARTITION OF ri_policy._changed
	FOR VALUES WITH (MODULUS 8, REMAINDER 4);
CREATE UNLOGGED TABLE ri_policy._changed_5 PARTITION OF ri_policy._changed
	FOR VALUES WITH (MODULUS 8, REMAINDER 5);
CREATE UNLOGGED TABLE ri_policy._changed_6 PARTITION OF ri_policy._changed
	FOR VALUES WITH (MODULUS 8, REMAINDER 6);
CREATE UNLOGGED TABLE ri_policy._changed_7 PARTITION OF ri_policy._changed
	FOR VALUES WITH (MODULUS 8, REMAINDER 7);
-- Entries live until the next pass: compressing a bulk load's keys (a
-- megabyte for 100,000 keys) cost more than storing them.
ALTER TABLE ri_policy._changed ALTER COLUMN keys SET STORAGE EXTERNAL;
SELECT pg_catalog.pg_extension_config_dump('ri_policy._changed_0', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._changed_1', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._changed_2', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._changed_3', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._changed_4', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._changed_5', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._changed_6', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._changed_7', '');
