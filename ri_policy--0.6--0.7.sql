/* ri_policy--0.6--0.7.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ri_policy UPDATE TO '0.7'" to load this file. \quit

-- Parallel validation (src/parallel.c): a full pass read by several
-- processes splits each child table's blocks into pieces, each read in
-- batches by whichever process claims it; where each piece resumes.  A pass
-- with rows here is resumed piece by piece; one without, from
-- _progress.resume_rel/resume_block.
CREATE TABLE ri_policy._progress_share (
	reference		bigint NOT NULL,
	piece			integer NOT NULL,
	rel				oid NOT NULL,
	resume_block	bigint NOT NULL,
	end_block		bigint,			-- NULL: to the table's end
	filenode		oid NOT NULL,	-- rel's storage when the position was saved
	done			boolean NOT NULL DEFAULT false,
	PRIMARY KEY (reference, piece)
);
COMMENT ON TABLE ri_policy._progress_share IS
'ri_policy: where each piece of a parallel validation pass resumes (use ri_policy.validation_progress)';

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
