/* ri_policy--0.5--0.6.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ri_policy UPDATE TO '0.6'" to load this file. \quit

-- ---------------------------------------------------------------------
-- pg_upgrade: operators by name; one ri_policy.references for every
-- major (issue 10)
-- ---------------------------------------------------------------------

-- The pinned equality operators are kept by name (schema-qualified, as
-- pg_identify_object() names them), not as regoperator: pg_upgrade keeps
-- the OIDs of tables and types but not of operators, and refuses a
-- database with a regoperator column in a table.  The library reads them
-- back with ::regoperator[].
CREATE FUNCTION ri_policy._operator_names(operators regoperator[])
RETURNS text[]
LANGUAGE sql STABLE STRICT
RETURN ARRAY(SELECT (pg_catalog.pg_identify_object('pg_catalog.pg_operator'::pg_catalog.regclass,
													 u.o, 0)).identity
			   FROM pg_catalog.unnest(operators) WITH ORDINALITY u(o, i)
			  ORDER BY u.i);
ALTER TABLE ri_policy._reference
	ALTER COLUMN eq_operators TYPE text[] USING ri_policy._operator_names(eq_operators);
DROP FUNCTION ri_policy._operator_names(regoperator[]);

-- The view chose its kind expression by the server's major when it was
-- created, and pg_upgrade keeps an extension's objects as they are: a
-- database upgraded from 15 to 18 listed NOT ENFORCED keys as enforced.
-- The library, built for the server it runs in, says what a key is; the
-- view no longer depends on the major it was created on.  (Column lists
-- of ON DELETE SET NULL/DEFAULT exist on every supported major, 15+.)
CREATE FUNCTION ri_policy._fk_kind(constraint_oid oid)
RETURNS text
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'ri_policy_fk_kind';
COMMENT ON FUNCTION ri_policy._fk_kind(oid) IS
'ri_policy: enforced, not valid or not enforced, for a foreign key in pg_constraint';

CREATE OR REPLACE VIEW ri_policy.references WITH (security_barrier) AS
WITH rel AS (
	SELECT r.id, r.name, r.child, r.child_columns, r.parent, r.parent_columns,
		   'declared'::text AS kind, r.match, r.on_delete,
		   r.on_update, r.is_deferrable, r.initially_deferred,
		   CASE WHEN r.on_delete_columns IS NOT NULL THEN
				ARRAY(SELECT r.child_columns[k.p] FROM pg_catalog.unnest(r.on_delete_columns)
													   WITH ORDINALITY k(p, i)
					   ORDER BY k.i) END AS on_delete_columns,
		   r.not_valid
	  FROM ri_policy._reference r
	UNION ALL
	SELECT f.id, c.conname::text, c.conrelid::regclass,
		   ARRAY(SELECT a.attname FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(n, i)
				   JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
				  ORDER BY k.i),
		   c.confrelid::regclass,
		   ARRAY(SELECT a.attname FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(n, i)
				   JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
				  ORDER BY k.i),
		   ri_policy._fk_kind(c.oid),
		   CASE c.confmatchtype WHEN 'f' THEN 'full' WHEN 'p' THEN 'partial' ELSE 'simple' END,
		   CASE c.confdeltype WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
				WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' ELSE 'no action' END,
		   CASE c.confupdtype WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
				WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' ELSE 'no action' END,
		   c.condeferrable, c.condeferred,
		   CASE WHEN c.confdelsetcols IS NOT NULL THEN
				ARRAY(SELECT a.attname FROM pg_catalog.unnest(c.confdelsetcols) WITH ORDINALITY k(n, i)
						JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
					   ORDER BY k.i) END,
		   NOT c.convalidated
	  FROM pg_catalog.pg_constraint c
	  LEFT JOIN ri_policy._foreign_key f ON f.child::oid = c.conrelid AND f.name = c.conname
	 WHERE c.contype = 'f' AND c.conparentid = 0
)
SELECT rel.name, rel.child, rel.child_columns, rel.parent, rel.parent_columns,
	   rel.kind, rel.match, rel.on_delete,
	   p.last_done_at AS last_validated,
	   CASE WHEN p.last_done_at IS NOT NULL
				 AND ri_policy._may_read_results(rel.child)
			THEN (SELECT pg_catalog.count(*) FROM ri_policy._violation v
				   WHERE v.reference = rel.id) END AS orphan_keys,
	   CASE WHEN p.last_done_at IS NOT NULL
				 AND ri_policy._may_read_results(rel.child)
			THEN (SELECT COALESCE(pg_catalog.sum(v.child_rows), 0)::bigint
					FROM ri_policy._violation v
				   WHERE v.reference = rel.id) END AS orphan_rows,
	   rel.on_update, rel.is_deferrable, rel.initially_deferred,
	   rel.on_delete_columns, rel.not_valid
  FROM rel
  LEFT JOIN ri_policy._progress p ON p.reference = rel.id;

-- end of: pg_upgrade (issue 10)

-- ---------------------------------------------------------------------
-- Advice: ri_policy.advise() and ri_policy.discover() (issue 14)
--
-- Both run as their caller (SECURITY INVOKER) with a fixed search_path,
-- and look only at tables the caller may SELECT: what they report is what
-- the caller could have found out with plain SELECTs of their own.
-- ---------------------------------------------------------------------

-- Whether each declared reference is tracked, and its equality operators
-- (which decide what index serves it), for advise(), which runs as its
-- caller: filtered by privilege like the other views.
CREATE VIEW ri_policy._tracking WITH (security_barrier) AS
SELECT r.name, r.child, r.tracked_since, r.eq_operators
  FROM ri_policy._reference r
 WHERE ri_policy._may_read_results(r.child);
GRANT SELECT ON ri_policy._tracking TO PUBLIC;
COMMENT ON VIEW ri_policy._tracking IS
'ri_policy: since when each declared reference the caller may read is tracked, and its equality operators (for advise())';

-- A name as ri_triggers.c writes it into its queries (always quoted), as a
-- regular expression that matches exactly that text.
CREATE FUNCTION ri_policy._re_quoted(ident text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.regexp_replace('"' || pg_catalog.replace(ident, '"', '""') || '"',
									 '([.^$*+?()[\]{}|\\])', '\\\1', 'g')
$$;
COMMENT ON FUNCTION ri_policy._re_quoted(text) IS
'ri_policy: a regular expression matching an identifier as PostgreSQL''s RI queries quote it';

-- A regular expression matching text in any case of its ASCII letters (as
-- SQL reads keywords and unquoted names), and nothing else in any other case.
CREATE FUNCTION ri_policy._re_anycase(word text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.string_agg(
			   CASE WHEN ch ~ '^[A-Za-z]$' THEN '[' || pg_catalog.lower(ch) || pg_catalog.upper(ch) || ']'
					WHEN ch ~ '^[.^$*+?()[\]{}|\\]$' THEN '\' || ch
					ELSE ch END, '' ORDER BY i), '')
	  FROM pg_catalog.regexp_split_to_table(word, '') WITH ORDINALITY t(ch, i)
$$;
COMMENT ON FUNCTION ri_policy._re_anycase(text) IS
'ri_policy: a regular expression matching a word in any case of its ASCII letters';

-- A name as a user may write it in a statement: quoted, exactly; or, when
-- quoting is not needed (no upper-case ASCII letter, nothing but letters,
-- digits, _ and $, and not a digit or $ first), bare, in any case of its
-- ASCII letters (which is all SQL folds).  Matched case-sensitively: "Orders"
-- is not orders.
CREATE FUNCTION ri_policy._re_written(ident text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT '(?:' || ri_policy._re_quoted(ident)
		   || CASE WHEN ident ~ '^([a-z_]|[^[:ascii:]])([a-z0-9_$]|[^[:ascii:]])*$'
				   THEN '|' || ri_policy._re_anycase(ident) ELSE '' END
		   || ')'
$$;
COMMENT ON FUNCTION ri_policy._re_written(text) IS
'ri_policy: a regular expression matching an identifier as a statement may write it';

-- A table and, when partitioned, its partitions, as pg_partition_tree()
-- shows them (which shows nothing for a table that is not partitioned).
CREATE FUNCTION ri_policy._tree(rel regclass)
RETURNS TABLE (relid regclass, parentrelid regclass, isleaf boolean, level integer)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT t.relid, t.parentrelid, t.isleaf, t.level FROM pg_catalog.pg_partition_tree(rel) t
	UNION ALL
	SELECT rel, NULL, true, 0
	 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(rel))
$$;
COMMENT ON FUNCTION ri_policy._tree(regclass) IS
'ri_policy: a table and its partitions, if any';

-- Size, row estimate and write counts of a table, summed over its
-- partitions.  rows is NULL while a partition has never been analyzed.
CREATE FUNCTION ri_policy._table_facts(rel regclass,
	OUT rows bigint, OUT bytes bigint,
	OUT inserts bigint, OUT updates bigint, OUT deletes bigint)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN pg_catalog.bool_and(c.reltuples >= 0)
				THEN pg_catalog.sum(c.reltuples)::bigint END,
		   pg_catalog.sum(pg_catalog.pg_total_relation_size(t.relid))::bigint,
		   COALESCE(pg_catalog.sum(s.n_tup_ins), 0)::bigint,
		   COALESCE(pg_catalog.sum(s.n_tup_upd), 0)::bigint,
		   COALESCE(pg_catalog.sum(s.n_tup_del), 0)::bigint
	  FROM ri_policy._tree(rel) t
	  JOIN pg_catalog.pg_class c ON c.oid = t.relid
	  LEFT JOIN pg_catalog.pg_stat_user_tables s ON s.relid = t.relid
	 WHERE t.isleaf
$$;
COMMENT ON FUNCTION ri_policy._table_facts(regclass) IS
'ri_policy: estimated rows, total size and writes since the statistics were reset, summed over partitions';

-- An index of rel whose leading key columns are exactly cols, each once, in
-- any order, that the RI query "WHERE $1 = col [AND ...]" can use: each
-- column compared in the column's collation, by an operator of the index
-- column's operator family (ops, the key's equality operators, parent type
-- = child type; NULL: not checked).  An int4 index serves no numeric
-- comparison (the query casts the column), nor one in another collation.
CREATE FUNCTION ri_policy._covering_index(rel regclass, cols name[], ops oid[])
RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT i.indexrelid::regclass
	  FROM pg_catalog.pg_index i
	  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
	  JOIN pg_catalog.pg_am am ON am.oid = ic.relam
	 WHERE i.indrelid = rel
	   AND i.indisvalid AND i.indisready AND i.indpred IS NULL
	   AND (am.amname = 'btree' OR (am.amname = 'hash' AND pg_catalog.cardinality(cols) = 1))
	   AND i.indnkeyatts >= pg_catalog.cardinality(cols)
	   AND (SELECT pg_catalog.count(DISTINCT a.attnum)
			  FROM pg_catalog.generate_series(0, pg_catalog.cardinality(cols) - 1) k
			  JOIN pg_catalog.pg_attribute a ON a.attrelid = rel AND a.attnum = i.indkey[k]
											AND NOT a.attisdropped
			  JOIN pg_catalog.unnest(cols) WITH ORDINALITY u(col, n) ON u.col = a.attname
			  JOIN pg_catalog.pg_opclass oc ON oc.oid = i.indclass[k]
			 WHERE i.indcollation[k] = a.attcollation
			   AND (ops IS NULL
					OR EXISTS (SELECT 1 FROM pg_catalog.pg_amop ao
								WHERE ao.amopfamily = oc.opcfamily AND ao.amopopr = ops[u.n])))
		   = pg_catalog.cardinality(cols)
	 ORDER BY i.indnkeyatts, ic.relname
	 LIMIT 1
$$;
COMMENT ON FUNCTION ri_policy._covering_index(regclass, name[], oid[]) IS
'ri_policy: an index whose leading columns are the given columns, in any order, usable with the given equality operators';

-- The statements that index cols of rel without blocking its writers: one
-- CREATE INDEX CONCURRENTLY; for a partitioned table (where CONCURRENTLY is
-- refused), an index ON ONLY each partitioned table, one built concurrently
-- on each leaf, each attached to its parent's.  One statement a line: each
-- must run on its own (CONCURRENTLY refuses to share a query string), and
-- the names they give exist nowhere yet (a name taken, or shared by two
-- partitions whose names agree in their first bytes, gets a number).
CREATE FUNCTION ri_policy._create_index(rel regclass, cols name[])
RETURNS text
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	list text;
	suffix text;
	n record;
	idx name;
	tail text;
	i integer;
	given text[] := '{}';
	names jsonb := '{}';	-- the index name given to each partitioned table
	out text[] := '{}';
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ' ORDER BY o),
		   pg_catalog.string_agg(c, '_' ORDER BY o)
	  INTO list, suffix
	  FROM pg_catalog.unnest(cols) WITH ORDINALITY u(c, o);
	IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = rel) <> 'p' THEN
		RETURN pg_catalog.format('CREATE INDEX CONCURRENTLY ON %s (%s);', rel, list);
	END IF;
	FOR n IN
		SELECT t.relid, t.parentrelid, t.isleaf, t.level, c.relname, c.relnamespace,
			   pn.nspname AS parent_nsp
		  FROM ri_policy._tree(rel) t
		  JOIN pg_catalog.pg_class c ON c.oid = t.relid
		  LEFT JOIN pg_catalog.pg_class pc ON pc.oid = t.parentrelid
		  LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
		 ORDER BY t.level, t.relid::regclass::text
	LOOP
		-- the name PostgreSQL would give, clipped to fit as it clips names
		-- (whole characters within NAMEDATALEN - 1 bytes), numbered if taken
		i := 0;
		LOOP
			tail := '_idx' || CASE WHEN i > 0 THEN i::text ELSE '' END;
			idx := (SELECT (pg_catalog.left(n.relname || '_' || suffix, k) || tail)::name
					  FROM pg_catalog.generate_series(pg_catalog.length(n.relname || '_' || suffix), 0, -1) k
					 WHERE pg_catalog.octet_length(pg_catalog.left(n.relname || '_' || suffix, k) || tail) <= 63
					 LIMIT 1);
			EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class x
								   WHERE x.relnamespace = n.relnamespace AND x.relname = idx)
				  AND NOT (n.relnamespace::text || '.' || idx) = ANY (given);
			i := i + 1;
		END LOOP;
		given := given || (n.relnamespace::text || '.' || idx);
		IF n.isleaf THEN
			out := out || pg_catalog.format('CREATE INDEX CONCURRENTLY %I ON %s (%s);', idx, n.relid::regclass, list);
		ELSE
			out := out || pg_catalog.format('CREATE INDEX %I ON ONLY %s (%s);', idx, n.relid::regclass, list);
			names := names || pg_catalog.jsonb_build_object(n.relid::oid::text, idx);
		END IF;
		IF n.level > 0 THEN
			out := out || pg_catalog.format('ALTER INDEX %I.%I ATTACH PARTITION %I.%I;',
											n.parent_nsp, names ->> n.parentrelid::oid::text,
											(SELECT x.nspname FROM pg_catalog.pg_namespace x
											  WHERE x.oid = n.relnamespace), idx);
		END IF;
	END LOOP;
	RETURN pg_catalog.array_to_string(out, E'\n');
END
$fn$;
COMMENT ON FUNCTION ri_policy._create_index(regclass, name[]) IS
'ri_policy: the statements that index the given columns without blocking writes, one a line';

-- advise(): one row per relationship in ri_policy.references whose child
-- and parent the caller may SELECT.
CREATE FUNCTION ri_policy.advise()
RETURNS TABLE (
	name			text,
	kind			text,
	child			regclass,
	child_columns	name[],
	parent			regclass,
	parent_columns	name[],
	child_rows		bigint,
	child_bytes		bigint,
	parent_rows		bigint,
	parent_bytes	bigint,
	child_inserts	bigint,
	child_updates	bigint,
	parent_updates	bigint,
	parent_deletes	bigint,
	child_index		regclass,
	create_index	text,
	ri_check_calls	bigint,
	ri_check_ms		double precision,
	ri_action_calls	bigint,
	ri_action_ms	double precision,
	child_write_ms	double precision,
	ri_share		double precision,
	cost_note		text,
	tracked			boolean,
	last_validated	timestamptz,
	orphan_keys		bigint,
	orphan_rows		bigint,
	recommendation	text,
	reason			text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
	-- thresholds, documented in README ("Deciding per relationship")
	demote_min_calls constant bigint := 1000;
	demote_min_share constant double precision := 0.10;
	promote_max_bytes constant bigint := 1073741824;
	pgss regclass;
	pgss_state text;		-- NULL: usable; else why the figures are unavailable
	pgss_all boolean;
	fast_path boolean := pg_catalog.current_setting('server_version_num')::int >= 190000;
	r record;
	cf record;
	pf record;
	check_re text;
	action_re text;
	write_re text;
	notes text[];
	sharing bigint;
	-- the statements of pg_stat_statements that can matter, read once
	st_query text[];
	st_calls bigint[];
	st_ms double precision[];
	st_top boolean[];
	-- what ri_triggers.c may write after an operand (a cast to the
	-- operator's input type, as for a domain or a varchar key) and after a
	-- comparison (a COLLATE of the parent's nondeterministic collation)
	ident_re constant text := '(?:"(?:[^"]|"")*"|[a-z_][a-z0-9_]*)';
	cast_re constant text := '(?:::' || ident_re || '\.' || ident_re || ')?';
	coll_re constant text := '(?: COLLATE ' || ident_re || '\.' || ident_re || ')?';
	eq_ops oid[];
	action_sharing bigint;
	caller_lock_timeout constant text := pg_catalog.current_setting('lock_timeout');
BEGIN
	-- pg_stat_statements: the view of the extension (found as a member of
	-- it, not by a name someone else may control), loaded and tracking
	-- nested statements
	SELECT d.objid::regclass INTO pgss
	  FROM pg_catalog.pg_extension e
	  JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_extension'::regclass
								 AND d.refobjid = e.oid AND d.deptype = 'e'
								 AND d.classid = 'pg_catalog.pg_class'::regclass
	  JOIN pg_catalog.pg_class c ON c.oid = d.objid
	 WHERE e.extname = 'pg_stat_statements' AND c.relname = 'pg_stat_statements';
	IF pgss IS NULL THEN
		pgss_state := 'unavailable: pg_stat_statements is not installed in this database; '
			'to measure RI cost, add pg_stat_statements to shared_preload_libraries, '
			'set pg_stat_statements.track = all, restart, and CREATE EXTENSION pg_stat_statements';
	ELSE
		BEGIN
			EXECUTE pg_catalog.format('SELECT 1 FROM %s LIMIT 1', pgss);
			IF pg_catalog.current_setting('pg_stat_statements.track', true) IS DISTINCT FROM 'all' THEN
				pgss_state := pg_catalog.format(
					'unavailable: pg_stat_statements.track is %s, and PostgreSQL''s RI queries run nested; '
					'set pg_stat_statements.track = all (and reload)',
					COALESCE(pg_catalog.current_setting('pg_stat_statements.track', true), 'unset'));
			END IF;
		EXCEPTION
			WHEN object_not_in_prerequisite_state THEN
				pgss_state := 'unavailable: pg_stat_statements is installed but not loaded; '
					'add it to shared_preload_libraries, set pg_stat_statements.track = all, and restart';
			WHEN insufficient_privilege THEN
				pgss_state := pg_catalog.format('unavailable: you may not read %s', pgss);
		END;
	END IF;
	pgss_all := pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE');
	-- wait for a table's lock no longer than this (for this function only)
	IF pg_catalog.current_setting('lock_timeout') = '0'
	   OR pg_catalog.current_setting('lock_timeout')::interval > '1 s' THEN
		PERFORM pg_catalog.set_config('lock_timeout', '1s', true);
	END IF;
	IF pgss_state IS NULL THEN
		-- RI queries (nested) and writes (top level) of this database,
		-- summed over the roles that ran them
		EXECUTE pg_catalog.format(
			'SELECT pg_catalog.array_agg(q.query), pg_catalog.array_agg(q.calls),'
			'       pg_catalog.array_agg(q.ms), pg_catalog.array_agg(q.toplevel)'
			'  FROM (SELECT s.query, s.toplevel, pg_catalog.sum(s.calls)::bigint AS calls,'
			'               pg_catalog.sum(s.total_exec_time) AS ms'
			'          FROM %s s'
			'         WHERE s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d'
			'                          WHERE d.datname = pg_catalog.current_database())'
			'           AND s.query IS NOT NULL'
			'           AND CASE WHEN s.toplevel'
			'                    THEN s.query ~* ''^\s*(INSERT|UPDATE|DELETE|MERGE|COPY)\M'''
			'                    ELSE s.query ~ ''^(SELECT \$[0-9]+ FROM|DELETE FROM|UPDATE) (ONLY )?"'' END'
			'         GROUP BY s.query, s.toplevel) q', pgss)
		   INTO st_query, st_calls, st_ms, st_top;
	END IF;

	FOR r IN
		SELECT ref.name, ref.kind, ref.child, ref.child_columns, ref.parent, ref.parent_columns,
			   ref.last_validated, ref.orphan_keys, ref.orphan_rows,
			   t.tracked_since IS NOT NULL AS tracked
		  FROM ri_policy.references ref
		  LEFT JOIN ri_policy._tracking t
				 ON ref.kind = 'declared' AND t.child = ref.child AND t.name = ref.name
		 WHERE pg_catalog.has_table_privilege(ref.child, 'SELECT')
		   AND pg_catalog.has_table_privilege(ref.parent, 'SELECT')
		   -- not another session's temporary tables, which no one else
		   -- can read, size or index
		   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class k
							WHERE k.oid IN (ref.child, ref.parent) AND k.relpersistence = 't'
							  AND k.relnamespace <> pg_catalog.pg_my_temp_schema())
		 ORDER BY ref.child::text, ref.name
	LOOP
		notes := '{}';
		sharing := 0;
		action_sharing := 0;
		-- sizes (and the partitions of a partitioned table) need a lock on
		-- each table: one that someone else holds locked longer than
		-- lock_timeout is reported without them rather than waited for
		BEGIN
			cf := ri_policy._table_facts(r.child);
		EXCEPTION WHEN lock_not_available THEN
			SELECT NULL::bigint AS rows, NULL::bigint AS bytes, NULL::bigint AS inserts,
				   NULL::bigint AS updates, NULL::bigint AS deletes INTO cf;
			notes := notes || pg_catalog.format('%s was locked: its size and writes are not shown', r.child);
		END;
		BEGIN
			pf := ri_policy._table_facts(r.parent);
		EXCEPTION WHEN lock_not_available THEN
			SELECT NULL::bigint AS rows, NULL::bigint AS bytes, NULL::bigint AS inserts,
				   NULL::bigint AS updates, NULL::bigint AS deletes INTO pf;
			notes := notes || pg_catalog.format('%s was locked: its size and writes are not shown', r.parent);
		END;
		name := r.name;
		kind := r.kind;
		child := r.child;
		child_columns := r.child_columns;
		parent := r.parent;
		parent_columns := r.parent_columns;
		child_rows := cf.rows;
		child_bytes := cf.bytes;
		parent_rows := pf.rows;
		parent_bytes := pf.bytes;
		child_inserts := cf.inserts;
		child_updates := cf.updates;
		parent_updates := pf.updates;
		parent_deletes := pf.deletes;
		-- the operators the key compares with (parent type = child type)
		IF r.kind = 'declared' THEN
			SELECT t.eq_operators::pg_catalog.regoperator[]::pg_catalog.oid[] INTO eq_ops
			  FROM ri_policy._tracking t WHERE t.child = r.child AND t.name = r.name;
		ELSE
			SELECT c.conpfeqop INTO eq_ops
			  FROM pg_catalog.pg_constraint c
			 WHERE c.contype = 'f' AND c.conrelid = r.child AND c.conname = r.name AND c.conparentid = 0;
		END IF;
		child_index := ri_policy._covering_index(r.child, r.child_columns, eq_ops);
		BEGIN
			create_index := CASE WHEN child_index IS NULL
								 THEN ri_policy._create_index(r.child, r.child_columns) END;
		EXCEPTION WHEN lock_not_available THEN
			create_index := NULL;
		END;
		tracked := CASE WHEN r.kind = 'declared' THEN r.tracked END;
		last_validated := r.last_validated;
		orphan_keys := r.orphan_keys;
		orphan_rows := r.orphan_rows;
		ri_check_calls := NULL;
		ri_check_ms := NULL;
		ri_action_calls := NULL;
		ri_action_ms := NULL;
		child_write_ms := NULL;
		ri_share := NULL;

		-- The measured cost of PostgreSQL's own RI queries for this key:
		-- on each child insert or key update, the lookup of the parent row
		-- (shared by every key on the same parent columns); on each parent
		-- delete or key update, the check or action on the child.
		IF r.kind NOT IN ('enforced', 'not valid') THEN
			notes := notes || 'not enforced: PostgreSQL runs no RI queries for it'::text;
		ELSIF pgss_state IS NOT NULL THEN
			notes := notes || pgss_state;
		ELSE
			SELECT '^SELECT \$[0-9]+ FROM (ONLY )?'
				   || ri_policy._re_quoted(pn.nspname) || '\.' || ri_policy._re_quoted(pc.relname)
				   || ' x WHERE '
				   || pg_catalog.string_agg(ri_policy._re_quoted(k.col) || cast_re || ' OPERATOR\([^)]*\) \$' || k.i
											|| cast_re || coll_re,
											' AND ' ORDER BY k.i)
				   || ' FOR KEY SHARE OF x$'
			  INTO check_re
			  FROM pg_catalog.pg_class pc
			  JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
			 CROSS JOIN pg_catalog.unnest(r.parent_columns) WITH ORDINALITY k(col, i)
			 WHERE pc.oid = r.parent
			 GROUP BY pn.nspname, pc.relname;
			SELECT '^(SELECT \$[0-9]+ FROM (ONLY )?' || q.rel || ' x WHERE '
				   || '|DELETE FROM (ONLY )?' || q.rel || ' WHERE '
				   || '|UPDATE (ONLY )?' || q.rel || ' SET .* WHERE )'
				   -- (a cascaded UPDATE numbers these after its SET list)
				   || pg_catalog.string_agg('\$[0-9]+' || cast_re || ' OPERATOR\([^)]*\) '
											|| ri_policy._re_quoted(k.col) || cast_re || coll_re,
											' AND ' ORDER BY k.i)
				   || '( FOR KEY SHARE OF x)?$'
			  INTO action_re
			  FROM (SELECT ri_policy._re_quoted(cn.nspname) || '\.' || ri_policy._re_quoted(cc.relname) AS rel
					  FROM pg_catalog.pg_class cc
					  JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
					 WHERE cc.oid = r.child) q
			 CROSS JOIN pg_catalog.unnest(r.child_columns) WITH ORDINALITY k(col, i)
			 GROUP BY q.rel;
			SELECT '^\s*(' || ri_policy._re_anycase('INSERT') || '\s+' || ri_policy._re_anycase('INTO')
				   || '|' || ri_policy._re_anycase('UPDATE')
				   || '|' || ri_policy._re_anycase('DELETE') || '\s+' || ri_policy._re_anycase('FROM')
				   || '|' || ri_policy._re_anycase('MERGE') || '\s+' || ri_policy._re_anycase('INTO')
				   || '|' || ri_policy._re_anycase('COPY') || ')\s+(' || ri_policy._re_anycase('ONLY') || '\s+)?'
				   || '(' || ri_policy._re_written(cn.nspname) || '\s*\.\s*)?'
				   || ri_policy._re_written(cc.relname) || '([\s(;]|$)'
			  INTO write_re
			  FROM pg_catalog.pg_class cc
			  JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
			 WHERE cc.oid = r.child;
			SELECT COALESCE(pg_catalog.sum(u.calls) FILTER (WHERE NOT u.top AND u.query ~ check_re), 0)::bigint,
				   COALESCE(pg_catalog.sum(u.ms) FILTER (WHERE NOT u.top AND u.query ~ check_re), 0),
				   COALESCE(pg_catalog.sum(u.calls) FILTER (WHERE NOT u.top AND u.query ~ action_re), 0)::bigint,
				   COALESCE(pg_catalog.sum(u.ms) FILTER (WHERE NOT u.top AND u.query ~ action_re), 0),
				   pg_catalog.sum(u.ms) FILTER (WHERE u.top AND u.query ~ write_re)
			  INTO ri_check_calls, ri_check_ms, ri_action_calls, ri_action_ms, child_write_ms
			  FROM ROWS FROM (pg_catalog.unnest(st_query), pg_catalog.unnest(st_calls),
							 pg_catalog.unnest(st_ms), pg_catalog.unnest(st_top)) u(query, calls, ms, top);
			IF fast_path THEN
				ri_check_calls := NULL;
				ri_check_ms := NULL;
				notes := notes || 'child-side checks unmeasured: from PostgreSQL 19 on they probe the parent''s index directly, without a query pg_stat_statements sees'::text;
			ELSE
				-- counted among the keys whose child the caller may read
				SELECT pg_catalog.count(*) - 1 INTO sharing
				  FROM ri_policy.references o
				 WHERE o.parent = r.parent AND o.parent_columns = r.parent_columns
				   AND o.kind IN ('enforced', 'not valid')
				   AND pg_catalog.has_table_privilege(o.child, 'SELECT');
				IF sharing > 0 THEN
					notes := notes || pg_catalog.format(
						'the parent lookup is one query for every enforced key on %s (%s), %s of them here: its figures are theirs together',
						r.parent, pg_catalog.array_to_string(r.parent_columns, ', '), sharing + 1);
				END IF;
				IF child_write_ms > 0 THEN
					ri_share := pg_catalog.round((ri_check_ms / child_write_ms)::numeric, 3);
				END IF;
			END IF;
			-- the queries on the child are the same text for every key on
			-- the same child columns, whatever their parents
			SELECT pg_catalog.count(*) - 1 INTO action_sharing
			  FROM ri_policy.references o
			 WHERE o.child = r.child AND o.child_columns = r.child_columns
			   AND o.kind IN ('enforced', 'not valid');
			IF action_sharing > 0 THEN
				notes := notes || pg_catalog.format(
					'the queries on the child are one query for every enforced key on %s (%s), %s of them here: their figures are theirs together',
					r.child, pg_catalog.array_to_string(r.child_columns, ', '), action_sharing + 1);
			END IF;
			IF NOT pgss_all THEN
				notes := notes || 'only statements of roles whose statistics you may read are counted (pg_read_all_stats sees all)'::text;
			END IF;
		END IF;
		cost_note := NULLIF(pg_catalog.array_to_string(notes, '; '), '');

		-- One recommendation, the first that applies
		IF r.kind = 'not valid' THEN
			recommendation := 'validate';
			reason := pg_catalog.format(
				'NOT VALID: rows written before it was added are unchecked; CALL ri_policy.validate(%L) finds every orphan in batches, then ALTER TABLE %s VALIDATE CONSTRAINT %I',
				r.name, r.child, r.name);
		ELSIF r.kind IN ('declared', 'not enforced') AND r.last_validated IS NULL THEN
			recommendation := 'validate';
			reason := pg_catalog.format('never validated: orphans unknown; CALL ri_policy.validate(%L)', r.name);
		ELSIF child_index IS NULL AND r.kind = 'enforced' THEN
			recommendation := 'index child';
			reason := pg_catalog.format(
				'no index on %s (%s): each DELETE or key UPDATE on %s scans about %s rows of it (%s updates and %s deletes on %s since the statistics were reset)',
				r.child, pg_catalog.array_to_string(r.child_columns, ', '), r.parent,
				COALESCE(cf.rows::text, 'unknown'), pf.updates, pf.deletes, r.parent);
		ELSIF r.kind = 'enforced' THEN
			IF ri_check_calls >= demote_min_calls AND ri_share >= demote_min_share THEN
				recommendation := 'consider demote';
				reason := pg_catalog.format(
					'PostgreSQL''s check for this key took %s ms in %s calls%s, %s%% of the time of writes to %s; demote it (SELECT ri_policy.demote(%L, %L)) and track it (ri_policy.track) to check it in batches instead',
					pg_catalog.round(ri_check_ms::numeric, 1), ri_check_calls,
					CASE WHEN sharing > 0
						 THEN pg_catalog.format(' (with the %s other keys on the same parent columns)', sharing)
						 ELSE '' END,
					pg_catalog.round(100 * ri_share::numeric, 1), r.child, r.child::text, r.name);
			ELSE
				recommendation := 'keep';
				reason := CASE WHEN ri_check_calls IS NULL
					THEN pg_catalog.format('indexed (%s); enforcement cost not measured', child_index)
					ELSE pg_catalog.format('indexed (%s); PostgreSQL''s check took %s ms in %s calls%s',
						child_index, pg_catalog.round(ri_check_ms::numeric, 1), ri_check_calls,
						CASE WHEN ri_share IS NOT NULL
							 THEN pg_catalog.format(', %s%% of the time of writes to %s',
													pg_catalog.round(100 * ri_share::numeric, 1), r.child)
							 ELSE '' END) END;
			END IF;
		ELSIF r.orphan_keys > 0 THEN
			recommendation := 'keep';
			reason := pg_catalog.format(
				'%s orphaned keys (%s rows) at the last validation: repair them (CALL ri_policy.repair(%L, ...)) or fix the data before promoting',
				r.orphan_keys, r.orphan_rows, r.name);
		ELSIF r.kind = 'not enforced' THEN
			recommendation := 'keep';
			reason := pg_catalog.format('NOT ENFORCED, no orphans at the last validation: ALTER TABLE %s ALTER CONSTRAINT %I ENFORCED enforces it',
										r.child, r.name);
		ELSIF child_index IS NULL THEN
			recommendation := 'index child';
			reason := pg_catalog.format(
				'no orphans, but no index on %s (%s): index it before promoting, or each DELETE or key UPDATE on %s would scan it',
				r.child, pg_catalog.array_to_string(r.child_columns, ', '), r.parent);
		ELSIF cf.bytes > promote_max_bytes THEN
			recommendation := 'keep';
			reason := pg_catalog.format(
				'no orphans, but %s: promoting validates the whole child again (online); choose a quiet hour',
				pg_catalog.pg_size_pretty(cf.bytes));
		ELSE
			recommendation := 'promote';
			reason := pg_catalog.format(
				'no orphans at the last validation (%s)%s, indexed, %s: SELECT ri_policy.promote(%L) enforces it online',
				r.last_validated,
				CASE WHEN r.tracked THEN ', tracked' ELSE '' END,
				pg_catalog.pg_size_pretty(cf.bytes), r.name);
		END IF;
		RETURN NEXT;
	END LOOP;
	-- the caller's lock_timeout again (a value set here would outlive the
	-- call until the end of the transaction)
	PERFORM pg_catalog.set_config('lock_timeout', caller_lock_timeout, true);
END
$fn$;
COMMENT ON FUNCTION ri_policy.advise() IS
'one row per foreign key and declared reference the caller may read: sizes, writes, index, measured RI cost, and a recommendation with its reason';

-- A table name in the singular, the naive English way: customers ->
-- customer, categories -> category, addresses -> address.
CREATE FUNCTION ri_policy._singular(word text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN word ~ 'ies$' THEN pg_catalog.regexp_replace(word, 'ies$', 'y')
				WHEN word ~ '(ss|us|x|ch|sh)es$' THEN pg_catalog.regexp_replace(word, 'es$', '')
				WHEN word ~ '[^s]s$' THEN pg_catalog.regexp_replace(word, 's$', '')
				ELSE word END
$$;
COMMENT ON FUNCTION ri_policy._singular(text) IS
'ri_policy: a table name in the singular, for discover()';

-- Columns whose name and type suggest that they refer to a one-column
-- unique key of a table the caller may read, and that no foreign key or
-- declared reference covers.  Only built-in types compared with a built-in
-- equality operator: probing them runs no code of any other role.
CREATE FUNCTION ri_policy._candidates(schema_name name)
RETURNS TABLE (child regclass, child_column name, parent regclass, parent_column name,
			   name_rule text, parent_collation oid)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH covered AS MATERIALIZED (	-- columns of foreign keys and declared references
		SELECT ref.child, c.col
		  FROM ri_policy.references ref, pg_catalog.unnest(ref.child_columns) c(col)
	), readable AS (
		SELECT c.oid, c.relname, c.relnamespace
		  FROM pg_catalog.pg_class c
		  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
		   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'ri_policy')
		   AND n.nspname !~ '^pg_toast'
		   AND (n.nspname !~ '^pg_temp_' OR n.oid = pg_catalog.pg_my_temp_schema())
		   AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
		   AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
	), keys AS MATERIALIZED (	-- one-column unique keys of readable tables
		SELECT DISTINCT t.oid AS rel, t.relname, a.attnum, a.attname, a.atttypid, a.attcollation,
			   pg_catalog.lower(t.relname) AS pname,
			   ri_policy._singular(pg_catalog.lower(t.relname)) AS psing
		  FROM readable t
		  JOIN pg_catalog.pg_index i ON i.indrelid = t.oid
		  JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]
		 WHERE i.indisunique AND i.indimmediate AND i.indnkeyatts = 1 AND i.indpred IS NULL
		   AND i.indisvalid AND i.indkey[0] > 0
	), cols AS (			-- columns of readable tables, with the stem of their name
		SELECT t.oid AS rel, t.relname, a.attnum, a.attname, a.atttypid,
			   pg_catalog.lower(a.attname) AS lname
		  FROM readable t
		  JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid
		 WHERE a.attnum > 0 AND NOT a.attisdropped
		   AND (schema_name IS NULL OR t.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n
														  WHERE n.nspname = schema_name))
		   AND NOT EXISTS (SELECT 1 FROM covered v WHERE v.child = t.oid AND v.col = a.attname)
	-- Names first, by equality (hash joins): comparing every column with
	-- every key would take minutes on a few thousand tables, before the
	-- budget is ever checked.  A column's name, less a key's name at its
	-- end, leaves a stem; the stem, each tail of it after a '_', and the stem
	-- less trailing '_' (a prefix of at least three letters) are what a
	-- parent's name, singular name or the start of its singular name must
	-- be for a rule below to hold.  The rules themselves decide after.
	), splits AS MATERIALIZED (
		SELECT c.rel, c.attnum, kn.attname AS kname,
			   CASE WHEN pg_catalog.right(c.lname, pg_catalog.length(kn.attname) + 1)
						 = '_' || pg_catalog.lower(kn.attname)
					THEN pg_catalog.left(c.lname, -(pg_catalog.length(kn.attname) + 1))
					ELSE pg_catalog.left(c.lname, -pg_catalog.length(kn.attname)) END AS stem
		  FROM cols c
		  JOIN (SELECT DISTINCT k.attname FROM keys k) kn
			ON pg_catalog.right(c.lname, pg_catalog.length(kn.attname)) = pg_catalog.lower(kn.attname)
	), stem_forms AS (
		SELECT s.rel, s.attnum, s.kname, s.stem AS form, 'name' AS kind FROM splits s
		UNION ALL
		SELECT s.rel, s.attnum, s.kname, pg_catalog.substr(s.stem, g + 1), 'name'
		  FROM splits s, pg_catalog.generate_series(1, pg_catalog.length(s.stem)) g
		 WHERE pg_catalog.substr(s.stem, g, 1) = '_'
		UNION ALL
		SELECT s.rel, s.attnum, s.kname, pg_catalog.rtrim(s.stem, '_'), 'prefix'
		  FROM splits s
		 WHERE pg_catalog.length(pg_catalog.rtrim(s.stem, '_')) >= 3
	), key_forms AS (
		SELECT k.rel, k.attname, k.pname AS form, 'name' AS kind FROM keys k
		UNION
		SELECT k.rel, k.attname, k.psing, 'name' FROM keys k
		UNION
		SELECT k.rel, k.attname, pg_catalog.left(k.psing, g), 'prefix'
		  FROM keys k, pg_catalog.generate_series(3, pg_catalog.length(k.psing)) g
	), matched AS MATERIALIZED (
		SELECT sf.rel AS crel, sf.attnum AS cattnum, kf.rel AS prel, kf.attname AS pcol
		  FROM stem_forms sf
		  JOIN key_forms kf ON kf.form = sf.form AND kf.kind = sf.kind AND kf.attname = sf.kname
		UNION		-- self references by convention (the list below)
		SELECT s.rel, s.attnum, s.rel, s.kname
		  FROM splits s
		 WHERE s.stem IN ('parent', 'manager', 'supervisor', 'boss', 'reports_to', 'mentor',
						  'referrer', 'referred_by', 'predecessor', 'successor', 'previous',
						  'prev', 'next', 'replaced_by', 'replaces', 'superseded_by',
						  'duplicate_of', 'merged_into', 'root', 'ancestor', 'original')
	), pairs AS MATERIALIZED (
		SELECT c.rel AS crel, c.attname AS ccol, k.rel AS prel, k.attname AS pcol, k.attcollation,
			   c.rel = k.rel AS self,
			   -- the column's name without the key's name at its end: the stem
			   CASE WHEN pg_catalog.right(c.lname, pg_catalog.length(k.attname) + 1)
						 = '_' || pg_catalog.lower(k.attname)
					THEN pg_catalog.left(c.lname, -(pg_catalog.length(k.attname) + 1))
					WHEN pg_catalog.right(c.lname, pg_catalog.length(k.attname))
						 = pg_catalog.lower(k.attname)
					THEN pg_catalog.left(c.lname, -pg_catalog.length(k.attname)) END AS stem,
			   k.pname, k.psing
		  FROM matched m
		  JOIN cols c ON c.rel = m.crel AND c.attnum = m.cattnum
		  JOIN keys k ON k.rel = m.prel AND k.attname = m.pcol
					 AND (c.atttypid = k.atttypid
						  OR (c.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
							  AND k.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)))
		 WHERE NOT (c.rel = k.rel AND c.attnum = k.attnum)
		   AND (SELECT ty.typnamespace FROM pg_catalog.pg_type ty WHERE ty.oid = c.atttypid)
			   = 'pg_catalog'::regnamespace
		   AND EXISTS (SELECT 1 FROM pg_catalog.pg_operator o
						WHERE o.oprname = '=' AND o.oprleft = c.atttypid AND o.oprright = k.atttypid
						  AND o.oprnamespace = 'pg_catalog'::regnamespace)
	)
	SELECT p.crel::regclass, p.ccol, p.prel::regclass, p.pcol,
		   CASE WHEN p.self THEN 'self'
				WHEN p.stem IN (p.pname, p.psing) THEN 'name'
				WHEN p.ends_with THEN 'suffix'
				ELSE 'abbreviation' END,
		   p.attcollation
	  FROM (SELECT p.*,
				   pg_catalog.right(p.stem, pg_catalog.length(p.psing) + 1) = '_' || p.psing
				   OR pg_catalog.right(p.stem, pg_catalog.length(p.pname) + 1) = '_' || p.pname AS ends_with
			  FROM pairs p
			 WHERE p.stem <> '') p
	 WHERE CASE WHEN p.self
				-- parent_id, manager_id, parent_category_id in categories
				THEN p.stem IN ('parent', 'manager', 'supervisor', 'boss', 'reports_to', 'mentor',
								'referrer', 'referred_by', 'predecessor', 'successor', 'previous',
								'prev', 'next', 'replaced_by', 'replaces', 'superseded_by',
								'duplicate_of', 'merged_into', 'root', 'ancestor', 'original')
					 OR p.ends_with
				-- customer_id, customers_id, billing_customer_id, custid
				ELSE p.stem IN (p.pname, p.psing)
					 OR p.ends_with
					 OR (pg_catalog.length(pg_catalog.rtrim(p.stem, '_')) >= 3
						 AND pg_catalog.starts_with(p.psing, pg_catalog.rtrim(p.stem, '_'))) END
$$;
COMMENT ON FUNCTION ri_policy._candidates(name) IS
'ri_policy: undeclared relationships that column names and types suggest, for discover()';

-- Whether the caller may read rel (and its partitions) without running code
-- of another role.  Reading a table runs, as the reader, its row-level
-- security policies and, while planning and scanning, the functions and
-- operators of its index expressions, partial-index predicates, operator
-- classes, statistics expressions and partition key: the table owner's
-- choice.  A table the caller owns, or a superuser does, is read; another
-- role's only if none of those refer (pg_depend) to a function, operator,
-- type or operator class that is not built in (built-in objects have OIDs
-- below FirstNormalObjectId, 16384).
CREATE FUNCTION ri_policy._reads_no_code(rel regclass)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT NOT EXISTS (
		SELECT 1
		  FROM ri_policy._tree(rel) t
		  JOIN pg_catalog.pg_class c ON c.oid = t.relid
		  JOIN pg_catalog.pg_roles o ON o.oid = c.relowner
		 WHERE o.rolname <> CURRENT_USER AND NOT o.rolsuper
		   AND EXISTS (
				SELECT 1
				  FROM pg_catalog.pg_depend d
				 WHERE d.refobjid >= 16384
				   AND d.refclassid IN ('pg_catalog.pg_proc'::regclass, 'pg_catalog.pg_operator'::regclass,
										'pg_catalog.pg_type'::regclass, 'pg_catalog.pg_opclass'::regclass)
				   AND ((d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.objsubid = 0)
						OR (d.classid = 'pg_catalog.pg_class'::regclass
							AND d.objid IN (SELECT i.indexrelid FROM pg_catalog.pg_index i
											 WHERE i.indrelid = c.oid))
						OR (d.classid = 'pg_catalog.pg_statistic_ext'::regclass
							AND d.objid IN (SELECT x.oid FROM pg_catalog.pg_statistic_ext x
											 WHERE x.stxrelid = c.oid))
						OR (d.classid = 'pg_catalog.pg_policy'::regclass
							AND t.level = 0 AND pg_catalog.row_security_active(c.oid)
							AND d.objid IN (SELECT p.oid FROM pg_catalog.pg_policy p
											 WHERE p.polrelid = c.oid)))))
$$;
COMMENT ON FUNCTION ri_policy._reads_no_code(regclass) IS
'ri_policy: whether reading a table runs no code of a role other than the caller or a superuser, for discover()';

-- discover(): every candidate is decided by the data: a sample of the
-- child's non-null values, probed through the parent's unique index.
CREATE FUNCTION ri_policy.discover(
	sample_rows integer DEFAULT 1000,
	time_budget interval DEFAULT '30 seconds',
	row_budget bigint DEFAULT 1000000,
	min_fraction double precision DEFAULT 0.95,
	min_sample integer DEFAULT 30,
	schema_name name DEFAULT NULL,
	all_candidates boolean DEFAULT false)
RETURNS TABLE (
	child			regclass,
	child_column	name,
	parent			regclass,
	parent_column	name,
	name_rule		text,
	sampled			bigint,
	matched			bigint,
	fraction		double precision,
	verdict			text,
	ms				double precision,
	declare_call	text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
	started constant timestamptz := pg_catalog.clock_timestamp();
	deadline timestamptz;
	rows_left bigint := row_budget;
	c record;
	est double precision;
	pct double precision;
	pct_max double precision;
	pages double precision;
	n integer;
	t0 timestamptz;
	skipped bigint := 0;
	child_only text;
	parent_only text;
	probe_collation oid;
	caller_lock_timeout constant text := pg_catalog.current_setting('lock_timeout');
BEGIN
	IF sample_rows IS NULL OR time_budget IS NULL OR row_budget IS NULL
	   OR min_fraction IS NULL OR min_sample IS NULL OR all_candidates IS NULL THEN
		RAISE EXCEPTION 'only schema_name may be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF sample_rows <= 0 THEN
		RAISE EXCEPTION 'sample_rows must be positive'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = pg_catalog.format('It is %s.', sample_rows);
	END IF;
	IF time_budget <= '0'::interval THEN
		RAISE EXCEPTION 'time_budget must be positive'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = pg_catalog.format('It is %s.', time_budget);
	END IF;
	IF row_budget <= 0 THEN
		RAISE EXCEPTION 'row_budget must be positive'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = pg_catalog.format('It is %s.', row_budget);
	END IF;
	IF NOT (min_fraction > 0 AND min_fraction <= 1) THEN
		RAISE EXCEPTION 'min_fraction must be above 0 and at most 1'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = pg_catalog.format('It is %s.', min_fraction);
	END IF;
	IF min_sample <= 0 THEN
		RAISE EXCEPTION 'min_sample must be positive'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = pg_catalog.format('It is %s.', min_sample);
	END IF;
	IF schema_name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
												WHERE n.nspname = schema_name) THEN
		RAISE EXCEPTION 'schema "%" does not exist', schema_name
			USING ERRCODE = 'invalid_schema_name';
	END IF;
	-- (a century is as good as no limit, and keeps the arithmetic finite)
	deadline := started + LEAST(time_budget, '100 years'::interval);

	FOR c IN SELECT * FROM ri_policy._candidates(schema_name) x
			  ORDER BY x.child::text, x.child_column, x.parent::text, x.parent_column
	LOOP
		child := c.child;
		child_column := c.child_column;
		parent := c.parent;
		parent_column := c.parent_column;
		name_rule := c.name_rule;
		sampled := NULL;
		matched := NULL;
		fraction := NULL;
		declare_call := NULL;
		ms := NULL;
		n := LEAST(sample_rows::bigint, rows_left)::integer;
		IF pg_catalog.clock_timestamp() >= deadline OR n <= 0 THEN
			skipped := skipped + 1;
			verdict := 'not verified';
			IF all_candidates THEN
				RETURN NEXT;
			END IF;
			CONTINUE;
		END IF;

		-- SYSTEM sampling reads whole blocks: aim at twice the rows wanted
		-- (the column may hold NULLs), from the planner's estimate, or from
		-- the size when the table was never analyzed.  Too few values (NULLs,
		-- or few blocks drawn from a small table): sample again, four times
		-- more, but never more than about 20 rows, or 20 blocks, read per
		-- value wanted.
		-- (the sizes lock each table and partition: wait no longer than
		-- the budget left)
		PERFORM pg_catalog.set_config('lock_timeout',
			LEAST(2147483647, GREATEST(1, (EXTRACT(epoch FROM deadline - pg_catalog.clock_timestamp())
										   * 1000)::bigint))::text,
			true);
		-- Then, with both tables locked as the probe will lock them (so that
		-- no one changes their columns, policies or partition keys in
		-- between), whether the candidate still holds and whether reading
		-- the tables would run code of another role.
		BEGIN
			SELECT pg_catalog.sum(pg_catalog.pg_relation_size(t.relid))
				   / pg_catalog.current_setting('block_size')::double precision,
				   CASE WHEN pg_catalog.bool_and(k.reltuples >= 0) FILTER (WHERE t.isleaf)
						THEN pg_catalog.sum(k.reltuples) FILTER (WHERE t.isleaf) END
			  INTO pages, est
			  FROM ri_policy._tree(c.child) t
			  JOIN pg_catalog.pg_class k ON k.oid = t.relid;
			PERFORM pg_catalog.pg_relation_size(t.relid) FROM ri_policy._tree(c.parent) t;
			-- (ONLY: a foreign key sees neither rows of tables inheriting
			-- from its child nor from its parent)
			SELECT CASE WHEN ck.relkind = 'p' THEN '' ELSE 'ONLY ' END,
				   CASE WHEN pk.relkind = 'p' THEN '' ELSE 'ONLY ' END,
				   pa.attcollation
			  INTO child_only, parent_only, probe_collation
			  FROM pg_catalog.pg_class ck, pg_catalog.pg_class pk,
				   pg_catalog.pg_attribute ca, pg_catalog.pg_attribute pa, pg_catalog.pg_type ct
			 WHERE ck.oid = c.child AND pk.oid = c.parent
			   AND ca.attrelid = ck.oid AND ca.attname = c.child_column AND ca.attnum > 0 AND NOT ca.attisdropped
			   AND pa.attrelid = pk.oid AND pa.attname = c.parent_column AND pa.attnum > 0 AND NOT pa.attisdropped
			   AND ct.oid = ca.atttypid AND ct.typnamespace = 'pg_catalog'::regnamespace
			   AND (ca.atttypid = pa.atttypid
					OR (ca.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
						AND pa.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)))
			   AND EXISTS (SELECT 1 FROM pg_catalog.pg_operator o
							WHERE o.oprname = '=' AND o.oprleft = pa.atttypid AND o.oprright = ca.atttypid
							  AND o.oprnamespace = 'pg_catalog'::regnamespace)
			   AND ri_policy._reads_no_code(c.child) AND ri_policy._reads_no_code(c.parent);
			IF NOT FOUND THEN
				RAISE EXCEPTION USING ERRCODE = 'undefined_table';
			END IF;
		EXCEPTION WHEN lock_not_available OR undefined_table THEN
			skipped := skipped + 1;
			verdict := 'not verified';
			IF all_candidates THEN
				RETURN NEXT;
			END IF;
			CONTINUE;
		END;
		pages := GREATEST(pages, 1);
		est := GREATEST(COALESCE(est, pages * 50), 1);
		-- and never more blocks than that either (a bloated table holds
		-- few rows in many blocks)
		pct_max := LEAST(100.0, 100.0 * 20 * n / est, 100.0 * 20 * n / pages);
		pct := LEAST(pct_max, 100.0 * 2 * n / est);

		t0 := pg_catalog.clock_timestamp();
		LOOP
			BEGIN
				IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class k WHERE k.oid = c.child)
				   OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class k WHERE k.oid = c.parent) THEN
					RAISE EXCEPTION USING ERRCODE = 'undefined_table';
				END IF;
				-- wait for a lock no longer than the budget left
				PERFORM pg_catalog.set_config('lock_timeout',
					LEAST(2147483647, GREATEST(1, (EXTRACT(epoch FROM deadline - pg_catalog.clock_timestamp())
													* 1000)::bigint))::text,
					true);
				EXECUTE pg_catalog.format(
					'SELECT pg_catalog.count(*),'
					'       pg_catalog.count(*) FILTER (WHERE EXISTS (SELECT 1 FROM %s%s p'
					'                                              WHERE p.%I OPERATOR(pg_catalog.=) s.v%s))'
					'  FROM (SELECT c.%I AS v FROM %s%s c TABLESAMPLE SYSTEM (%s)'
					'         WHERE c.%I IS NOT NULL LIMIT %s) s',
					parent_only, c.parent, c.parent_column,
					CASE WHEN probe_collation <> 0
						 THEN ' COLLATE ' || probe_collation::regcollation::text ELSE '' END,
					c.child_column, child_only, c.child, pct, c.child_column, n)
				   INTO sampled, matched;
			EXCEPTION WHEN lock_not_available OR insufficient_privilege
						OR undefined_table OR undefined_column THEN
				-- locked past the budget, or changed since the candidates
				-- were listed
				sampled := NULL;
			END;
			EXIT WHEN sampled IS NULL OR sampled >= n OR pct >= pct_max
				 OR pg_catalog.clock_timestamp() >= deadline;
			pct := LEAST(pct_max, pct * 4);
		END LOOP;
		ms := EXTRACT(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000;
		IF sampled IS NULL THEN
			skipped := skipped + 1;
			verdict := 'not verified';
		ELSE
			rows_left := rows_left - sampled;
			fraction := CASE WHEN sampled > 0 THEN matched::double precision / sampled END;
			verdict := CASE WHEN sampled = 0 THEN 'no data'
							WHEN sampled < min_sample THEN 'too few values'
							WHEN fraction >= min_fraction THEN 'candidate'
							ELSE 'rejected' END;
		END IF;
		IF verdict = 'candidate' THEN
			declare_call := pg_catalog.format('SELECT ri_policy.declare_reference(%L, %L, %L, %L);',
											  c.child::text, ARRAY[c.child_column]::text,
											  c.parent::text, ARRAY[c.parent_column]::text);
		END IF;
		IF verdict = 'candidate' OR all_candidates THEN
			RETURN NEXT;
		END IF;
	END LOOP;
	-- the caller's lock_timeout again (a value set here would outlive the
	-- call until the end of the transaction)
	PERFORM pg_catalog.set_config('lock_timeout', caller_lock_timeout, true);
	IF skipped > 0 THEN
		RAISE NOTICE '% candidates were not verified', skipped
			USING DETAIL = 'The budget ran out, a table stayed locked or changed meanwhile, or reading it would run '
						   'code of a role other than you or a superuser (functions of its row-level security '
						   'policies, indexes, statistics or partition key).',
				  HINT = 'Give discover() a larger time_budget or row_budget, or a schema_name.';
	END IF;
END
$fn$;
COMMENT ON FUNCTION ri_policy.discover(integer, interval, bigint, double precision, integer, name, boolean) IS
'relationships that are neither foreign keys nor declared, suggested by names and types and verified on a bounded sample of the data';

-- Citus (src/citus.c): where a pass through Citus resumes, the last key of
-- its last committed batch, as text
ALTER TABLE ri_policy._progress ADD COLUMN resume_key text[];
