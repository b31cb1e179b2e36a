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
