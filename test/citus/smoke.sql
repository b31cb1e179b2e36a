SELECT plan(1);
SELECT is((SELECT count(*)::int FROM pg_dist_node WHERE isactive), 3, 'a coordinator and two workers');
SELECT * FROM finish();
