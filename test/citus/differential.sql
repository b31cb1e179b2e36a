-- Validation through Citus, checked against the answer Citus itself gives
-- (NOT IN): every kind of child table (plain, distributed and co-located
-- with the parent or not, distributed on its key or not, single-shard,
-- partitioned and distributed, reference, Citus local) against every kind
-- of parent (plain, distributed, reference, Citus local), with keys of
-- several types and shapes and shard counts, several seeds each.  For each:
-- validate() outside a transaction block in small batches (violations,
-- rows checked) and orphans() must equal the ground truth exactly.
-- Runs outside a transaction block (validate() commits); cleans up.
SET client_min_messages = error;

CREATE TEMP TABLE diff_result (n serial, name text, pass boolean, detail text);
-- owners of the parent in the second seed of each pair: then the workers do
-- not filter keys for the validator (see src/citus.c), which reads them all;
-- Citus connects to the workers as the role that probes the parent, its owner
CREATE ROLE regress_citus_parent_owner LOGIN;

-- make table "t" the given kind of Citus table; "col" is where to
-- distribute it, "with" a table to co-locate with
CREATE FUNCTION pg_temp.make_kind(t text, kind text, col text, shards int, colocate text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	CASE kind
	WHEN 'plain' THEN NULL;
	WHEN 'dist' THEN
		PERFORM create_distributed_table(t, col, shard_count => shards, colocate_with => 'none');
	WHEN 'dist_coloc' THEN
		PERFORM create_distributed_table(t, col, colocate_with => colocate);
	WHEN 'single' THEN
		PERFORM create_distributed_table(t, NULL);
	WHEN 'reference' THEN
		PERFORM create_reference_table(t);
	WHEN 'local' THEN
		PERFORM citus_add_local_table_to_metadata(t);
	END CASE;
END $$;

CREATE TEMP TABLE diff_case (name text, ck text, pk text, truth text, want_checked bigint);

-- set up one case: child of kind ck, parent of kind pk, keys of "shape"
CREATE FUNCTION pg_temp.setup_case(ck text, pk text, shape text, seed int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	cname text := format('%s child, %s parent, %s keys, seed %s', ck, pk, shape, seed);
	shards int := 1 + seed % 7;
	np int := 300 + seed * 37 % 500;
	nc int := 3000 + seed * 101 % 2000;
	ktype text := CASE shape WHEN 'int' THEN 'int' WHEN 'bigint' THEN 'bigint'
						 WHEN 'text' THEN 'text' WHEN 'uuid' THEN 'uuid' ELSE 'int' END;
	kexpr text := CASE shape WHEN 'int' THEN 'v' WHEN 'bigint' THEN '(v::bigint * 1000000007)'
						 WHEN 'text' THEN '''k'' || v' WHEN 'uuid' THEN 'md5(v::text)::uuid'
						 ELSE 'v' END;
	two boolean := shape = 'two';
	truth text;
	want_checked bigint;
BEGIN
	DELETE FROM diff_case;
	DROP TABLE IF EXISTS d_child, d_parent;
	PERFORM setseed(seed / 100.0);
	EXECUTE format('CREATE TABLE d_parent (id %s NOT NULL, id2 text NOT NULL DEFAULT %L, PRIMARY KEY (id%s))',
				   ktype, 'x', CASE WHEN two THEN ', id2' ELSE '' END);
	EXECUTE format('INSERT INTO d_parent SELECT %s%s FROM generate_series(1, %s) v WHERE random() < 0.8',
				   kexpr, CASE WHEN two THEN ', ''b'' || (v % 3)' ELSE '' END, np);
	IF ck = 'dist_part' THEN
		EXECUTE format('CREATE TABLE d_child (id bigint, pid %s, pid2 text) PARTITION BY RANGE (id)', ktype);
		CREATE TABLE d_child_1 PARTITION OF d_child FOR VALUES FROM (MINVALUE) TO (2000);
		CREATE TABLE d_child_2 PARTITION OF d_child FOR VALUES FROM (2000) TO (MAXVALUE);
	ELSE
		EXECUTE format('CREATE TABLE d_child (id bigint, pid %s, pid2 text)', ktype);
	END IF;
	-- a table distributed on its key has no NULL there
	EXECUTE format('INSERT INTO d_child SELECT g, CASE WHEN random() < %s THEN NULL ELSE %s END,'
				   '  ''b'' || (v %% 4)'
				   '  FROM (SELECT g, 1 + (random() * %s * 1.15)::int AS v'
				   '          FROM generate_series(1, %s) g) s',
				   CASE WHEN ck LIKE 'dist_key%' THEN 0 ELSE 0.05 END, kexpr, np, nc);
	PERFORM pg_temp.make_kind('d_parent', pk, 'id', shards, NULL);
	IF seed > 40 THEN
		ALTER TABLE d_parent OWNER TO regress_citus_parent_owner;
		cname := cname || ', parent of another owner';
	END IF;
	PERFORM pg_temp.make_kind('d_child',
							  CASE WHEN ck IN ('dist_key', 'dist_part') THEN 'dist'
								   WHEN ck = 'dist_key_coloc' THEN 'dist_coloc' ELSE ck END,
							  CASE WHEN ck IN ('dist_key', 'dist_key_coloc') THEN 'pid' ELSE 'id' END,
							  1 + (seed + 3) % 5, 'd_parent');
	IF two THEN
		PERFORM ri_policy.declare_reference('d_child', '{pid,pid2}', 'd_parent', '{id,id2}', name => 'd_ref');
	ELSE
		PERFORM ri_policy.declare_reference('d_child', '{pid}', 'd_parent', name => 'd_ref');
	END IF;
	INSERT INTO diff_case (name, ck, pk) VALUES (cname, ck, pk);
END $$;

-- the ground truth, from Citus (in a transaction of its own: Citus runs
-- no query over placements that this transaction's DDL wrote)
CREATE FUNCTION pg_temp.truth_case() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	two boolean := EXISTS (SELECT FROM ri_policy.references WHERE name = 'd_ref'
							AND array_length(child_columns, 1) = 2);
	t text;
	w bigint;
BEGIN

	EXECUTE format('SELECT string_agg(k || ''='' || n, '','' ORDER BY k) FROM'
				   ' (SELECT %s::text AS k, count(*) AS n FROM d_child'
				   '   WHERE pid IS NOT NULL %s GROUP BY 1) s',
				   CASE WHEN two THEN 'jsonb_build_object(''pid'', pid, ''pid2'', pid2)'
						ELSE 'jsonb_build_object(''pid'', pid)' END,
				   CASE WHEN two THEN 'AND (pid, pid2) NOT IN (SELECT id, id2 FROM d_parent)'
						ELSE 'AND pid NOT IN (SELECT id FROM d_parent)' END)
	   INTO t;
	SELECT count(*) FROM d_child WHERE pid IS NOT NULL INTO w;
	UPDATE diff_case SET truth = t, want_checked = w;
END $$;

-- compare, record, clean up
CREATE FUNCTION pg_temp.check_case() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	c diff_case;
	got text;
	orph text;
	checked bigint;
BEGIN
	SELECT * INTO c FROM diff_case;
	SELECT string_agg(key::text || '=' || child_rows, ',' ORDER BY key::text)
	  FROM ri_policy.violations WHERE reference = 'd_ref' INTO got;
	SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'd_ref' INTO checked;
	SELECT string_agg(key::text || '=' || child_rows, ',' ORDER BY key::text)
	  FROM ri_policy.orphans('d_ref') INTO orph;

	INSERT INTO diff_result (name, pass, detail) VALUES
		('validate: ' || c.name, got IS NOT DISTINCT FROM c.truth AND c.truth IS NOT NULL,
		 format('truth %s, got %s', left(c.truth, 200), left(got, 200))),
		('rows checked: ' || c.name, c.ck = 'plain' OR checked = c.want_checked,
		 format('%s rows, checked %s', c.want_checked, checked)),
		('orphans: ' || c.name, orph IS NOT DISTINCT FROM c.truth,
		 format('truth %s, got %s', left(c.truth, 200), left(orph, 200)));
END $$;

-- in a transaction of its own: orphans() above held locks on the parent's
-- shards through Citus's connections as the parent's owner, which DROP,
-- through another connection, would wait for
CREATE FUNCTION pg_temp.drop_case() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM ri_policy.drop_reference('d_ref');
	DROP TABLE d_child, d_parent;
END $$;

-- validate() runs here, in a DO block outside a transaction block, so that
-- it commits its batches
DO $$
DECLARE
	ck text;
	pk text;
	seed int := 0;
	shapes text[] := ARRAY['int', 'bigint', 'text', 'uuid', 'two'];
BEGIN
	FOREACH ck IN ARRAY ARRAY['plain', 'dist', 'dist_key', 'dist_key_coloc', 'single',
							  'dist_part', 'reference', 'local'] LOOP
		FOREACH pk IN ARRAY ARRAY['plain', 'dist', 'reference', 'local'] LOOP
			CONTINUE WHEN ck = 'dist_key_coloc' AND pk <> 'dist';
			seed := seed + 1;
			FOR i IN 0..1 LOOP
				PERFORM pg_temp.setup_case(ck, pk, shapes[1 + (seed + 2 * i) % 5], seed + 40 * i);
				COMMIT;
				PERFORM pg_temp.truth_case();
				COMMIT;
				CALL ri_policy.validate('d_ref', batch_size => 7 + (seed + 40 * i) % 50);
				PERFORM pg_temp.check_case();
				COMMIT;
				PERFORM pg_temp.drop_case();
				COMMIT;
			END LOOP;
		END LOOP;
	END LOOP;
END $$;

DROP ROLE regress_citus_parent_owner;
SELECT plan((SELECT count(*)::int FROM diff_result));
SELECT ok(pass, name) || CASE WHEN pass THEN '' ELSE E'\n# ' || detail END
  FROM diff_result ORDER BY n;
SELECT * FROM finish();
