-- faceid 0.1.0: face recognition as a database feature.
\echo Use "CREATE EXTENSION faceid" to load this file. \quit

------------------------------------------------------------------------
-- The faceembedding type: 128 float4, fixed length (512 bytes).
------------------------------------------------------------------------
CREATE TYPE faceembedding;

CREATE FUNCTION faceembedding_in(cstring) RETURNS faceembedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION faceembedding_out(faceembedding) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION faceembedding_recv(internal) RETURNS faceembedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION faceembedding_send(faceembedding) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE faceembedding (
	INPUT = faceembedding_in,
	OUTPUT = faceembedding_out,
	RECEIVE = faceembedding_recv,
	SEND = faceembedding_send,
	INTERNALLENGTH = 512,
	ALIGNMENT = int4,
	STORAGE = plain
);
COMMENT ON TYPE faceembedding IS 'a 128-d face encoding (128 float4)';

-- Casts from and to arrays.
CREATE FUNCTION faceembedding_from_real_array(real[]) RETURNS faceembedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION faceembedding_from_float8_array(double precision[]) RETURNS faceembedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION faceembedding_to_real_array(faceembedding) RETURNS real[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (real[] AS faceembedding) WITH FUNCTION faceembedding_from_real_array(real[]) AS ASSIGNMENT;
CREATE CAST (double precision[] AS faceembedding) WITH FUNCTION faceembedding_from_float8_array(double precision[]) AS ASSIGNMENT;
CREATE CAST (faceembedding AS real[]) WITH FUNCTION faceembedding_to_real_array(faceembedding) AS ASSIGNMENT;

------------------------------------------------------------------------
-- Distance, matching, triplet loss.
------------------------------------------------------------------------
CREATE FUNCTION face_distance(faceembedding, faceembedding) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION face_distance(faceembedding, faceembedding) IS 'Euclidean distance between two encodings';

CREATE OPERATOR <-> (
	LEFTARG = faceembedding, RIGHTARG = faceembedding,
	FUNCTION = face_distance, COMMUTATOR = '<->'
);

CREATE FUNCTION face_match(faceembedding, faceembedding, float8) RETURNS bool
	AS 'MODULE_PATHNAME', 'face_match_threshold' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION face_match(faceembedding, faceembedding, float8) IS 'true when a <-> b <= threshold';
CREATE FUNCTION face_match(faceembedding, faceembedding) RETURNS bool
	AS 'MODULE_PATHNAME', 'face_match_default' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION face_match(faceembedding, faceembedding) IS 'true when a <-> b <= faceid.match_threshold';

CREATE FUNCTION face_triplet_loss(anchor faceembedding, positive faceembedding, negative faceembedding, margin float8 DEFAULT 0.2) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION face_triplet_loss(faceembedding, faceembedding, faceembedding, float8) IS 'max(|A-P|^2 - |A-N|^2 + margin, 0)';

------------------------------------------------------------------------
-- Equality and ordering: DISTINCT, GROUP BY, UNIQUE, hash joins.
------------------------------------------------------------------------
CREATE FUNCTION faceembedding_eq(faceembedding, faceembedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION faceembedding_ne(faceembedding, faceembedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION faceembedding_lt(faceembedding, faceembedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION faceembedding_le(faceembedding, faceembedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION faceembedding_gt(faceembedding, faceembedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION faceembedding_ge(faceembedding, faceembedding) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION faceembedding_cmp(faceembedding, faceembedding) RETURNS int4
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION faceembedding_hash(faceembedding) RETURNS int4
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION faceembedding_hash_extended(faceembedding, int8) RETURNS int8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OPERATOR = (
	LEFTARG = faceembedding, RIGHTARG = faceembedding, FUNCTION = faceembedding_eq,
	COMMUTATOR = '=', NEGATOR = '<>', RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR <> (
	LEFTARG = faceembedding, RIGHTARG = faceembedding, FUNCTION = faceembedding_ne,
	COMMUTATOR = '<>', NEGATOR = '=', RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR < (
	LEFTARG = faceembedding, RIGHTARG = faceembedding, FUNCTION = faceembedding_lt,
	COMMUTATOR = '>', NEGATOR = '>=', RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR <= (
	LEFTARG = faceembedding, RIGHTARG = faceembedding, FUNCTION = faceembedding_le,
	COMMUTATOR = '>=', NEGATOR = '>', RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR > (
	LEFTARG = faceembedding, RIGHTARG = faceembedding, FUNCTION = faceembedding_gt,
	COMMUTATOR = '<', NEGATOR = '<=', RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR >= (
	LEFTARG = faceembedding, RIGHTARG = faceembedding, FUNCTION = faceembedding_ge,
	COMMUTATOR = '<=', NEGATOR = '<', RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS faceembedding_btree_ops
	DEFAULT FOR TYPE faceembedding USING btree AS
	OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
	FUNCTION 1 faceembedding_cmp(faceembedding, faceembedding);

CREATE OPERATOR CLASS faceembedding_hash_ops
	DEFAULT FOR TYPE faceembedding USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 faceembedding_hash(faceembedding),
	FUNCTION 2 faceembedding_hash_extended(faceembedding, int8);

------------------------------------------------------------------------
-- avg(faceembedding): element-wise mean, a template from several photos.
-- State: float8[129] = {count, sum_1 .. sum_128}; parallel via combine.
------------------------------------------------------------------------
CREATE FUNCTION faceembedding_accum(float8[], faceembedding) RETURNS float8[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION faceembedding_combine(float8[], float8[]) RETURNS float8[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION faceembedding_avg(float8[]) RETURNS faceembedding
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE avg(faceembedding) (
	SFUNC = faceembedding_accum,
	STYPE = float8[],
	FINALFUNC = faceembedding_avg,
	COMBINEFUNC = faceembedding_combine,
	INITCOND = '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
	PARALLEL = SAFE
);

------------------------------------------------------------------------
-- The engine: model file, kernels, counters; photos to encodings.
-- They read GUCs and the model file, so they are STABLE, not IMMUTABLE.
------------------------------------------------------------------------
CREATE FUNCTION faceid_info() RETURNS TABLE(key text, value text)
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION faceid_info() IS 'version, model file, BLAS library and kernel set, CPU features';
CREATE FUNCTION faceid_stats() RETURNS TABLE(images_decoded bigint, detector_runs bigint, encoder_runs bigint, ms_total float8)
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION faceid_stats() IS 'counters of this backend since it started';

CREATE FUNCTION face_embed_crop(image bytea) RETURNS faceembedding
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION face_embed_crop(bytea) IS 'encoding of a photo that is already a face crop (no detection)';

CREATE FUNCTION face_embed(image bytea) RETURNS faceembedding
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION face_embed(bytea) IS 'encoding of the largest face of a photo; NULL when it has no face';
CREATE FUNCTION face_detect(image bytea)
	RETURNS TABLE(face int, x real, y real, width real, height real, score real, landmarks point[])
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 3;
COMMENT ON FUNCTION face_detect(bytea) IS 'every face of a photo, highest score first: box, score and 68 landmarks in image pixels';
CREATE FUNCTION face_embed_all(image bytea)
	RETURNS TABLE(face int, x real, y real, width real, height real, score real, embedding faceembedding)
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 3;
COMMENT ON FUNCTION face_embed_all(bytea) IS 'every face of a photo with its encoding';

------------------------------------------------------------------------
-- Precomputed encodings: BEFORE INSERT OR UPDATE ... FOR EACH ROW
--   EXECUTE FUNCTION face_embed_trigger(photo_column, embedding_column)
------------------------------------------------------------------------
CREATE FUNCTION face_embed_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION face_embed_trigger() IS 'keeps an embedding column equal to face_embed(photo column)';

------------------------------------------------------------------------
-- BEGIN faceid_hnsw: the HNSW index access method (ORDER BY e <-> q).
------------------------------------------------------------------------
CREATE FUNCTION faceid_hnsw_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME' LANGUAGE C;

CREATE ACCESS METHOD faceid_hnsw TYPE INDEX HANDLER faceid_hnsw_handler;
COMMENT ON ACCESS METHOD faceid_hnsw IS 'HNSW graph index for nearest-neighbour search on faceembedding';

CREATE OPERATOR CLASS faceembedding_ops
	DEFAULT FOR TYPE faceembedding USING faceid_hnsw AS
	OPERATOR 1 <-> (faceembedding, faceembedding) FOR ORDER BY float_ops;
------------------------------------------------------------------------
-- END faceid_hnsw
------------------------------------------------------------------------
