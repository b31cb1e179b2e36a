/* ri_policy--0.7--0.8.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ri_policy UPDATE TO '0.8'" to load this file. \quit

-- The parent's integer keys as the shards of a Citus child test them
-- (src/shard_filter.c): is "key" one of the integers of "keys", a set of
-- ascending integers, each a varint of its distance from the one before?
-- Validation through Citus sends a parent's scattered integer keys this
-- way; each shard hashes the set once.
CREATE FUNCTION ri_policy._int8_in_keys(key bigint, keys bytea)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ri_policy_int8_in_keys'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ri_policy._int8_in_keys(bigint, bytea) IS
'ri_policy: is the key one of the set''s integers (src/shard_filter.c)? Used by validation through Citus';

-- ... and uuid keys, as their 16 bytes each, one after the other
CREATE FUNCTION ri_policy._uuid_in_keys(key uuid, keys bytea)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ri_policy_uuid_in_keys'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ri_policy._uuid_in_keys(uuid, bytea) IS
'ri_policy: is the key one of the set''s uuids (src/shard_filter.c)? Used by validation through Citus';
