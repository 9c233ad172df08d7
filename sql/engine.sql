-- The engine: model file, kernels, counters, face_embed_crop and its errors.
-- The npm package's demo photos are built into build/ (see the Makefile).
\set s1 `base64 -w0 "$PG_ABS_SRCDIR/build/faceid_sample1.jpg"`
\set s2 `base64 -w0 "$PG_ABS_SRCDIR/build/faceid_sample2.jpg"`
CREATE TABLE photos (name text, img bytea);
INSERT INTO photos VALUES ('sample1', decode(:'s1', 'base64')), ('sample2', decode(:'s2', 'base64'));

-- faceid_info(): what runs.  Values vary by machine, so show the keys and
-- check the facts that must hold everywhere.
SELECT key FROM faceid_info() ORDER BY key;
SELECT value = '0.1.0' AS version_ok FROM faceid_info() WHERE key = 'version';
SELECT value = 'face-api-1.7.15' AS model_version_ok FROM faceid_info() WHERE key = 'model_version';
SELECT value LIKE '%/extension/faceid_weights.bin' AS default_path FROM faceid_info() WHERE key = 'model_path';
SELECT value LIKE '%openblas%' AS openblas FROM faceid_info() WHERE key = 'blas_library';
SELECT value NOT LIKE '%USE_OPENMP%' AND value NOT LIKE '%MAX_THREADS=0%' AS config_shown FROM faceid_info() WHERE key = 'blas_config';

-- face_embed_crop on a whole photo: 128 finite values of a plausible norm.
SELECT (SELECT count(*) FROM unnest(face_embed_crop(img)::real[]) x WHERE x = x AND abs(x) < 10) AS finite,
       (SELECT sqrt(sum(x * x)) FROM unnest(face_embed_crop(img)::real[]) x) BETWEEN 0.3 AND 3 AS norm_ok
FROM photos ORDER BY name;
-- Deterministic: the same photo gives the same bits, two photos differ.
SELECT face_embed_crop(a.img) = face_embed_crop(a.img) AS same,
       face_embed_crop(a.img) <-> face_embed_crop(b.img) > 0.1 AS differ
FROM photos a, photos b WHERE a.name = 'sample1' AND b.name = 'sample2';

-- faceid_stats() counts the work done by this backend.
SELECT encoder_runs > 0 AS encoded, images_decoded >= encoder_runs AS decoded, ms_total > 0 AS timed
FROM faceid_stats();
CREATE TEMP TABLE before AS SELECT * FROM faceid_stats();
SELECT face_embed_crop(img) IS NOT NULL FROM photos WHERE name = 'sample1';
SELECT s.encoder_runs - b.encoder_runs AS one_more FROM faceid_stats() s, before b;

-- Bad images: each a clear error with its SQLSTATE, and the session goes on.
\set VERBOSITY sqlstate
SELECT face_embed_crop(''::bytea);
SELECT 1;
SELECT face_embed_crop('\x00'::bytea);
SELECT 1;
SELECT face_embed_crop(substr(img, 1, length(img) / 2)) FROM photos WHERE name = 'sample1';
SELECT 1;
SELECT face_embed_crop(decode(repeat('8badf00d', 64), 'hex'));
SELECT 1;
SET faceid.max_image_pixels = 1000;
SELECT face_embed_crop(img) FROM photos WHERE name = 'sample1';
RESET faceid.max_image_pixels;
SELECT 1;
\set VERBOSITY default
SELECT face_embed_crop(convert_to('GIF89a' || repeat('x', 40), 'UTF8'));
SELECT face_embed_crop(convert_to('RIFF0000WEBPVP8 ' || repeat('x', 40), 'UTF8'));
SELECT face_embed_crop(convert_to(E'P5\n92 112\n255\n' || repeat('x', 40), 'UTF8'));
SELECT face_embed_crop(convert_to('BM' || repeat('x', 60), 'UTF8'));
SELECT face_embed_crop(substr(img, 1, length(img) - 1000)) FROM photos WHERE name = 'sample1';
SET faceid.max_image_pixels = 1000;
SELECT face_embed_crop(img) FROM photos WHERE name = 'sample1';
RESET faceid.max_image_pixels;

-- faceid.model_path: superuser only; a missing or corrupt file is an error
-- naming the path; the default comes back on RESET.
CREATE ROLE faceid_regress_user;
SET ROLE faceid_regress_user;
SET faceid.model_path = '/etc/passwd';
RESET ROLE;
DROP ROLE faceid_regress_user;
SELECT regexp_replace(value, 'faceid_weights.bin$', 'faceid_sample1.jpg') AS not_a_model
FROM faceid_info() WHERE key = 'model_path' \gset
\set VERBOSITY sqlstate
SET faceid.model_path = '/nonexistent/faceid_weights.bin';
SELECT face_embed_crop(img) FROM photos WHERE name = 'sample1';
\set VERBOSITY default
SELECT face_embed_crop(img) FROM photos WHERE name = 'sample1';
SELECT key, value FROM faceid_info() WHERE key IN ('model_path', 'model_error') ORDER BY key;
SET faceid.model_path = :'not_a_model';
\set VERBOSITY sqlstate
SELECT face_embed_crop(img) FROM photos WHERE name = 'sample1';
\set VERBOSITY default
SELECT regexp_replace(value, '"/.*/', '"/.../') AS model_error FROM faceid_info() WHERE key = 'model_error';
RESET faceid.model_path;
SELECT face_embed_crop(img) IS NOT NULL AS works_again FROM photos WHERE name = 'sample1';
