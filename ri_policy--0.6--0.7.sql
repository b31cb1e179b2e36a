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

-- ---------------------------------------------------------------------------
-- Results' views (Citus)
-- ---------------------------------------------------------------------------

-- The results' views, each a UNION ALL of one query per kind of reference
-- (declared, foreign key), each leg joining its own tables.  Through
-- _names, Citus planned the name lookup (a UNION ALL) apart, then ran the
-- rest, which reads _violation or _progress, as a query of its own as the
-- caller, who may not read them: joined with a distributed table in one
-- statement, a view failed with "permission denied for table _violation".
-- A leg of local tables only is planned whole, with the view owner's
-- rights.  The UNION ALL is a subquery: a view whose top is one would be
-- flattened into its legs, security barrier and all, and a caller's leaky
-- function would see rows the legs' filters hide.  Filters on the
-- reference's name or child still reach each leg.
CREATE OR REPLACE VIEW ri_policy.violations WITH (security_barrier) AS
SELECT u.reference, u.key, u.child_rows, u.first_seen, u.last_seen, u.child
  FROM (SELECT r.name AS reference, v.key, v.child_rows, v.first_seen,
			   GREATEST(v.last_seen, p.seen_at) AS last_seen, r.child
		  FROM ri_policy._reference r
		  JOIN ri_policy._violation v ON v.reference = r.id
		  LEFT JOIN ri_policy._progress p ON p.reference = r.id
		 WHERE ri_policy._may_read_results(r.child)
		UNION ALL
		SELECT f.name::text, v.key, v.child_rows, v.first_seen,
			   GREATEST(v.last_seen, p.seen_at), f.child
		  FROM ri_policy._foreign_key f
		  JOIN ri_policy._violation v ON v.reference = f.id
		  LEFT JOIN ri_policy._progress p ON p.reference = f.id
		 WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
						WHERE c.conrelid = f.child::oid AND c.contypid = 0
						  AND c.conname = f.name AND c.contype = 'f' AND c.conparentid = 0)
		   AND ri_policy._may_read_results(f.child)) u;

CREATE OR REPLACE VIEW ri_policy.validation_progress WITH (security_barrier) AS
SELECT u.reference,
	   CASE WHEN u.status = 'running' AND NOT ri_policy._is_running(u.id)
			THEN 'interrupted' ELSE u.status END AS status,
	   u.started_at, u.finished_at, u.batches, u.rows_checked,
	   CASE WHEN u.status = 'done' THEN 100.0
			WHEN u.blocks_total = 0 THEN 0.0
			ELSE pg_catalog.round(100.0 * u.blocks_done / u.blocks_total, 1) END AS percent,
	   u.orphan_keys, u.child, u.why_full
  FROM (SELECT r.name AS reference, p.reference AS id, p.status, p.started_at, p.finished_at,
			   p.batches, p.rows_checked, p.blocks_done, p.blocks_total, p.orphan_keys,
			   r.child, p.why_full
		  FROM ri_policy._progress p
		  JOIN ri_policy._reference r ON r.id = p.reference
		 WHERE ri_policy._may_read_results(r.child)
		UNION ALL
		SELECT f.name::text, p.reference, p.status, p.started_at, p.finished_at,
			   p.batches, p.rows_checked, p.blocks_done, p.blocks_total, p.orphan_keys,
			   f.child, p.why_full
		  FROM ri_policy._progress p
		  JOIN ri_policy._foreign_key f ON f.id = p.reference
		 WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
						WHERE c.conrelid = f.child::oid AND c.contypid = 0
						  AND c.conname = f.name AND c.contype = 'f' AND c.conparentid = 0)
		   AND ri_policy._may_read_results(f.child)) u;
