# ri_policy/Makefile
#
# PGXS build.  Besides the standard targets (all, install, installcheck
# against any running server) it offers:
#   make test   install what is missing (Debian 12, as root), build, install,
#               and run the pg_regress and pgTAP suites in a throwaway cluster
#   make demo   the same set-up, then a scripted walk-through
#   make prove  the pgTAP suite against a running server
#   make bench  the benchmarks under test/bench (not part of make test)
#   make test-cassert  the same suite against an assertion-enabled
#               PostgreSQL 18 built from Debian's source, cached outside
#               the tree (test/cassert.sh)
#   make fuzz   the same set-up as make test, then the randomized differential
#               test of validation (test/validate_fuzz.py) with fresh seeds for
#               FUZZ_MINUTES (default 20); FUZZ_SEEDS=1,2 replays seeds instead,
#               FUZZ_ARGS passes options (--all, --only CLASS, -v; see --help)
#   make test-versions  the same suite against Debian's own PostgreSQL 17,
#               18 and 19, each in a minimal Debian root made with
#               debootstrap and cached outside the tree (test/versions.sh)
#   make test-citus  build Citus into Debian's PostgreSQL 15 once per machine
#               (../shared/vendor/build-citus.sh), then run test/citus/ on a
#               throwaway coordinator and two workers (test/citus.sh)
#   make bench-citus  the same cluster, then test/bench/citus.sh

EXTENSION = ri_policy
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = ri_policy
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA = $(wildcard $(EXTENSION)--*.sql)
PGFILEDESC = "ri_policy - foreign-key policy and declared references"

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=$(EXTENSION)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
endif

# every object depends on every header: the tree is small
$(OBJS): $(wildcard src/*.h)

# A throwaway cluster, trusted local connections so that tests can
# reconnect as their regress_* roles, logical replication for
# test/pgtap/track_subscription.sql, and pg_stat_statements tracking nested
# statements for advise()'s RI cost figures (test/pgtap/advise_cost.sql).
VIRTUALENV = pg_virtualenv -t -i --auth=trust \
	-o shared_preload_libraries=pg_cron,pg_stat_statements -o cron.database_name=postgres \
	-o pg_stat_statements.track=all -o wal_level=logical

.PHONY: deps test demo prove bench test-cassert test-versions test-citus bench-citus fuzz

deps:
	@test/install-deps.sh

test: deps
	$(MAKE) all
	$(MAKE) install
	$(VIRTUALENV) test/run-tests.sh

demo: deps
	$(MAKE) all
	$(MAKE) install
	$(VIRTUALENV) test/demo.sh

prove:
	pg_prove --ext .sql -r test/pgtap

bench: deps
	$(MAKE) all
	$(MAKE) install
	$(VIRTUALENV) test/bench/run.sh

test-cassert:
	test/cassert.sh

FUZZ_MINUTES ?= 20
fuzz: deps
	$(MAKE) all
	$(MAKE) install
	$(VIRTUALENV) /usr/bin/python3 test/validate_fuzz.py \
		$(if $(FUZZ_SEEDS),--seeds $(FUZZ_SEEDS),--minutes $(FUZZ_MINUTES)) $(FUZZ_ARGS)
test-versions:
	test/versions.sh

test-citus: deps
	test/citus.sh

bench-citus: deps
	test/citus.sh --run test/bench/citus.sh
