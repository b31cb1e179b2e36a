-- promote() validates the new foreign key as the child's owner, whoever
-- calls it: when a superuser promotes a role's reference, code the role
-- planted in the comparison (here an implicit cast of its enum to the key
-- type) runs only as the role.  promote() commits in a background worker,
-- so this file runs outside a transaction block and cleans up after itself.
SELECT plan(4);

CREATE ROLE regress_prom_att;
CREATE SCHEMA prom AUTHORIZATION regress_prom_att;
CREATE TABLE public.prom_ran (who name);
GRANT INSERT ON public.prom_ran TO PUBLIC;

SET ROLE regress_prom_att;
CREATE TYPE prom.e AS ENUM ('1', '2', '3');
CREATE FUNCTION prom.e_int(prom.e) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.prom_ran VALUES (current_user);
	BEGIN
		ALTER ROLE regress_prom_att SUPERUSER;
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	RETURN $1::text::int;
END $$;
CREATE CAST (prom.e AS int) WITH FUNCTION prom.e_int(prom.e) AS IMPLICIT;
CREATE TABLE prom.parent (id int PRIMARY KEY);
INSERT INTO prom.parent VALUES (1), (2), (3);
CREATE TABLE prom.child (k prom.e);
INSERT INTO prom.child VALUES ('1'), ('3');
SELECT ri_policy.declare_reference('prom.child', '{k}', 'prom.parent', name => 'prom_ref');
RESET ROLE;

SELECT lives_ok($$SELECT ri_policy.promote('prom_ref')$$, 'a superuser promotes the role''s reference');
SELECT is((SELECT convalidated FROM pg_constraint WHERE conname = 'prom_ref'), true,
		  'the key is added and validated');
SELECT is((SELECT array_agg(DISTINCT who) FROM public.prom_ran), '{regress_prom_att}'::name[],
		  'the planted cast ran during validation, only as the child''s owner');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_prom_att'), false,
		  'and gained nothing');

SET client_min_messages = warning;
DROP SCHEMA prom CASCADE;
DROP TABLE public.prom_ran;
DROP ROLE regress_prom_att;
SELECT * FROM finish();
