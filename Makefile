# faceid: PostgreSQL extension (PGXS).
#   make && make install         build and install against pg_config
#   make installcheck            pg_regress (needs a running server)
#   bash test/run_all.sh         every test on a throw-away cluster
EXTENSION   = faceid
EXTVERSION  = 0.1.0
MODULE_big  = faceid

# The PostgreSQL-free core (also linked by test/core, fuzzers and benchmarks).
CORE_OBJS   = src/core/fi_error.o src/core/distance.o
# SQL glue: fmgr functions, GUCs, errors.
SQL_OBJS    = src/faceid.o src/embedding.o
# Index access method.
HNSW_OBJS   =
# Verification head: face_verify, face_verify_train (LAPACK through dlopen).
VERIFY_OBJS = src/verify.o

OBJS        = $(CORE_OBJS) $(SQL_OBJS) $(HNSW_OBJS) $(VERIFY_OBJS)
DATA        = sql/faceid--$(EXTVERSION).sql
REGRESS     = embedding verify
REGRESS_OPTS = --load-extension=$(EXTENSION)

PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/src/core
# Distances must be bit-identical on every CPU: never fuse multiply and add.
PG_CFLAGS   = -ffp-contract=off
SHLIB_LINK  = -ljpeg -lpng -ldl -lm

# JIT bitcode of these functions buys nothing and would need clang at install.
override with_llvm = no

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
