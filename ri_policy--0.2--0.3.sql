/* ri_policy--0.2--0.3.sql: incremental tracking, repair, promote and demote */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ri_policy UPDATE TO '0.3'" to load this file. \quit

CREATE FUNCTION ri_policy.promote(reference text, validate boolean DEFAULT true)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_promote';
COMMENT ON FUNCTION ri_policy.promote(text, boolean) IS
'turn a declared reference into a foreign key: added NOT VALID and committed, then validated without blocking writers';

CREATE FUNCTION ri_policy.demote(child regclass, constraint_name name)
RETURNS text
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_demote';
COMMENT ON FUNCTION ri_policy.demote(regclass, name) IS
'drop a foreign key and declare the same relationship instead; returns its name';

CREATE FUNCTION ri_policy.demote_all(schema_name name DEFAULT NULL)
RETURNS SETOF text
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_demote_all';
COMMENT ON FUNCTION ri_policy.demote_all(name) IS
'demote every foreign key of a schema (NULL: of the database) on tables you own';

CREATE PROCEDURE ri_policy.repair(
	reference text DEFAULT NULL,
	action text DEFAULT NULL,
	batch_size int DEFAULT NULL)
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_repair';
COMMENT ON PROCEDURE ri_policy.repair(text, text, int) IS
'deferred cascade: delete or update the child rows of recorded orphans still without a parent, in committed batches';

-- Incremental tracking

ALTER TABLE ri_policy._reference ADD COLUMN tracked_since timestamptz;
ALTER TABLE ri_policy._progress ADD COLUMN last_full_at timestamptz;
UPDATE ri_policy._progress SET last_full_at = last_done_at;

-- Keys changed since the last pass, appended by the tracking triggers: one
-- row per statement, its distinct changed keys as the text of their values,
-- row after row (NULL keys: a TRUNCATE, so the next pass must be full).  No
-- WAL, so that appending stays cheap: a crash empties the
-- table, and with it the sentinel row (empty keys) that each pass leaves,
-- so that the next pass knows to be full.
CREATE UNLOGGED TABLE ri_policy._changed (
	reference		text COLLATE "C" NOT NULL,
	keys			text[]
);
-- Each reference's entries are found through this index, so that a busy
-- reference does not slow down the others' passes.
CREATE INDEX ON ri_policy._changed (reference);
COMMENT ON TABLE ri_policy._changed IS
'ri_policy: keys changed since the last validation of tracked references';
SELECT pg_catalog.pg_extension_config_dump('ri_policy._changed', '');

CREATE FUNCTION ri_policy._track_trigger()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_track_trigger';
-- track() creates the triggers as the extension's owner: nobody else may
-- point this function at a table.
REVOKE ALL ON FUNCTION ri_policy._track_trigger() FROM PUBLIC;
COMMENT ON FUNCTION ri_policy._track_trigger() IS
'ri_policy: statement trigger that records the keys a statement changed';

CREATE FUNCTION ri_policy.track(reference text, enabled boolean DEFAULT true)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_track';
COMMENT ON FUNCTION ri_policy.track(text, boolean) IS
'record the keys that change on both tables, so that the next validate() checks only those';
