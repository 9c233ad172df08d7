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
-- The photo functions run CNNs (milliseconds a call): COST 10000 tells the
-- planner so, which lets it parallelise backfills over many photos.
------------------------------------------------------------------------
CREATE FUNCTION faceid_info() RETURNS TABLE(key text, value text)
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION faceid_info() IS 'version, model file, BLAS library and kernel set, CPU features';
CREATE FUNCTION faceid_stats() RETURNS TABLE(images_decoded bigint, detector_runs bigint, encoder_runs bigint, ms_total float8)
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION faceid_stats() IS 'counters of this backend since it started';

CREATE FUNCTION face_embed_crop(image bytea) RETURNS faceembedding
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
COMMENT ON FUNCTION face_embed_crop(bytea) IS 'encoding of a photo that is already a face crop (no detection)';

CREATE FUNCTION face_embed(image bytea) RETURNS faceembedding
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
COMMENT ON FUNCTION face_embed(bytea) IS 'encoding of the largest face of a photo; NULL when it has no face';
CREATE FUNCTION face_detect(image bytea)
	RETURNS TABLE(face int, x real, y real, width real, height real, score real, landmarks point[])
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000 ROWS 3;
COMMENT ON FUNCTION face_detect(bytea) IS 'every face of a photo, highest score first: box, score and 68 landmarks in image pixels';
CREATE FUNCTION face_embed_all(image bytea)
	RETURNS TABLE(face int, x real, y real, width real, height real, score real, embedding faceembedding)
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000 ROWS 3;
COMMENT ON FUNCTION face_embed_all(bytea) IS 'every face of a photo with its encoding';

------------------------------------------------------------------------
-- Precomputed encodings: BEFORE INSERT OR UPDATE ... FOR EACH ROW
--   EXECUTE FUNCTION face_embed_trigger(photo_column, embedding_column)
------------------------------------------------------------------------
CREATE FUNCTION face_embed_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION face_embed_trigger() IS 'keeps an embedding column equal to face_embed(photo column)';

------------------------------------------------------------------------
-- Verification heads (src/verify.c): the table faceid_verifier,
-- face_verify(a, b [, verifier]) and face_verify_train(verifier, query [, l2]).
------------------------------------------------------------------------
CREATE TABLE faceid_verifier (
	name		text PRIMARY KEY CHECK (name <> '' AND octet_length(name) < 64),
	owner		regrole NOT NULL,
	weights		real[128] NOT NULL CHECK (array_ndims(weights) = 1 AND array_lower(weights, 1) = 1
										AND array_length(weights, 1) = 128
										AND array_position(weights, NULL) IS NULL),
	bias		real NOT NULL,
	trained_on	text,
	pairs		int,
	accuracy	real,
	created		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE faceid_verifier IS 'verification heads of face_verify: sigma(sum w_k |a_k - b_k| + bias); written only by face_verify_train';
-- Users read it; only face_verify_train writes it, as the extension owner.
REVOKE ALL ON faceid_verifier FROM PUBLIC;
GRANT SELECT ON faceid_verifier TO PUBLIC;
-- pg_dump keeps the user-trained heads; the shipped 'default' comes from this script.
SELECT pg_catalog.pg_extension_config_dump('faceid_verifier', 'WHERE name <> ''default''');

-- Every write tells all backends to drop their cached heads.
CREATE FUNCTION faceid_verifier_invalidate() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE TRIGGER faceid_verifier_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON faceid_verifier
	FOR EACH STATEMENT EXECUTE FUNCTION faceid_verifier_invalidate();

CREATE FUNCTION face_verify(a faceembedding, b faceembedding, verifier text DEFAULT 'default') RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION face_verify(faceembedding, faceembedding, text) IS 'probability that a and b show the same person, by the named head of faceid_verifier';

CREATE FUNCTION face_verify_train(verifier text, pairs_query text, l2 float8 DEFAULT 1e-4)
	RETURNS TABLE(pairs int, iterations int, accuracy float8, log_loss float8)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION face_verify_train(text, text, float8) IS 'fit a head on the rows (a faceembedding, b faceembedding, same bool) of pairs_query (run with your rights) and store it in faceid_verifier';

------------------------------------------------------------------------
-- default verifier: generated by test/train_default_verifier.sh
--
-- Trained with face_verify_train on the encodings (face_embed) of LFW View 1
-- pairsDevTrain.txt; trained_on names the model and settings.  Regenerate
-- it with the script whenever the model or the pipeline's defaults change.
-- On pairsDevTest.txt (937 pairs with a face in both photos) it is right
-- for 98.29% of the pairs, face_match's threshold 0.6 for 98.51%.
-- Without this row face_verify(a, b) raises "the default verifier is not
-- installed yet" (0A000).
------------------------------------------------------------------------
INSERT INTO faceid_verifier (name, owner, weights, bias, trained_on, pairs, accuracy, created)
VALUES ('default', current_user::regrole,
	'{-2.3120117,-1.8275406,-0.99289227,-1.8401625,-2.1388733,-2.4450822,-2.0268514,-1.79743,-2.1966667,-2.1896486,-1.9888263,-2.280333,-2.1318617,-3.152986,-1.586459,-2.0274346,-0.93839014,-2.2303286,-1.6038398,-1.9089937,-2.5273676,-1.4525232,-1.8348677,-1.6998422,-2.5308502,-2.2675412,-1.3913875,-1.4713582,-2.4024384,-2.3639817,-2.0555358,-1.9037714,-1.5103604,-1.4627862,-2.2411103,-1.7045373,-2.501353,-1.1367247,-1.6483054,-1.5971558,-2.15332,-1.5517828,-1.5094712,-2.4872432,-1.9690765,-1.612479,-1.1270685,-2.2980978,-0.697045,-1.9763529,-1.7346557,-1.7617894,-1.8717719,-1.912936,-2.3987808,-1.7461433,-1.4289682,-2.0754285,-1.5376797,-2.8908617,-2.1731024,-2.6054335,-1.323357,-2.1870563,-1.6421283,-2.271298,-2.3575253,-2.063383,-1.7555072,-2.1523614,-2.0396569,-1.6414776,-1.8010345,-1.3054554,-1.9563324,-2.145365,-1.9704309,-1.828274,-1.8708584,-1.3525645,-2.2850845,-2.3174057,-3.0659015,-1.6823727,-1.9925306,-2.355781,-1.8701414,-1.4306278,-1.6832548,-2.471222,-2.018485,-1.4436007,-1.6153603,-2.2350929,-1.9467367,-2.3609426,-2.0249176,-1.5470619,-1.7845808,-2.0081081,-2.070231,-2.197014,-2.1961493,-1.4055638,-1.4930238,-2.3909369,-1.4143752,-1.7990761,-2.217494,-3.3443289,-1.5806395,-1.8815539,-1.7177898,-2.2280438,-2.4723508,-1.347795,-1.1402175,-1.2405639,-2.0088716,-1.8661299,-2.2673419,-2.5640671,-2.6396265,-1.5747964,-2.153758,-1.8512743,-2.37437,-1.8934201}',
	11.037588,
	'LFW View 1 pairsDevTrain.txt, pairs with a face in both photos; face_verify_train l2 = 1e-4; model_checksum fnv1a64:c3e9668a43812624, model_version face-api-1.7.15, version 0.1.0; faceid.alignment = similarity, faceid.detect_size = 416, faceid.detector = tiny, faceid.min_score = 0.5',
	2103, 0.9895387, '2026-11-28 15:28:36+00');

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
