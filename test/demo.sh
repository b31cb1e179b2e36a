#!/bin/sh
# make demo: a scripted walk-through of ri_policy in the throwaway cluster
# that pg_virtualenv started (see the Makefile).
set -eu
cd "$(dirname "$0")/.."
psql -X -q -d postgres -c 'CREATE DATABASE ri_policy_demo'
psql -X -d ri_policy_demo -v ON_ERROR_STOP=0 -f test/demo.sql 2>&1
