/* ri_policy--0.6--0.7.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ri_policy UPDATE TO '0.7'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Recording (issue 13, recording side): a complete full pass no longer
-- rewrites every violation it saw again.  Every violation left by a
-- complete full pass was seen by it, so the time it saw them is kept once,
-- on the reference's progress row (seen_at); a violation's own last_seen
-- moves only when the violation is written (new, changed count, or
-- re-checked by an incremental pass), and the view shows the later of the
-- two.
-- ---------------------------------------------------------------------------
-- (NULL until the next complete full pass: the violations recorded before
-- this version carry their own last_seen.)
ALTER TABLE ri_policy._progress ADD COLUMN seen_at timestamptz;

CREATE OR REPLACE VIEW ri_policy.violations WITH (security_barrier) AS
SELECT n.name AS reference, v.key, v.child_rows, v.first_seen,
	   GREATEST(v.last_seen, p.seen_at) AS last_seen,
	   n.child
  FROM ri_policy._violation v
  JOIN ri_policy._names n ON n.id = v.reference
  LEFT JOIN ri_policy._progress p ON p.reference = v.reference
 WHERE ri_policy._may_read_results(n.child);
