/* ri_policy--0.5--0.6.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ri_policy UPDATE TO '0.6'" to load this file. \quit

-- Citus (src/citus.c): where a pass through Citus resumes, the last key of
-- its last committed batch, as text
ALTER TABLE ri_policy._progress ADD COLUMN resume_key text[];
