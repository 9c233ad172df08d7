-- Faces in faces_photos: face_detect, face_embed, face_embed_all on the npm
-- package's demo faces_photos (built into build/ with the weights).
\set s1 `base64 -w0 "$PG_ABS_SRCDIR/build/faceid_sample1.jpg"`
\set s2 `base64 -w0 "$PG_ABS_SRCDIR/build/faceid_sample2.jpg"`
\set s5 `base64 -w0 "$PG_ABS_SRCDIR/build/faceid_sample5.jpg"`
CREATE TABLE faces_photos (name text PRIMARY KEY, img bytea);
INSERT INTO faces_photos VALUES
  ('sample1', decode(:'s1', 'base64')), ('sample2', decode(:'s2', 'base64')),
  ('sample5', decode(:'s5', 'base64')),
  -- a 64x64 gradient without a face, and a 1x1 pixel
  ('noface', '\x89504e470d0a1a0a0000000d4948445200000040000000400802000000250be689000002b44944415478dad5d2814603000045d12749329364269324c9cc24932449924c92642693244932c9646692649224493249922449662649924c924992249924c9cc6432c9f47ee3dd4f382e001416161617171b0c86d2d2d2f2f272b3d96cb158aaaaaa6a6a6aeaeaea6c365b7d7dbdc3e1686a6a6a6969696b6bebe8e8e8eaeaeaeeeeeeedededefef77bbdd1e8f676868686464646c6c6c6262627272d2e7f3f9fdfe6030383b3b3b3f3fbfb0b0b0b4b4b4b2b2b2b6b6b6b1b1b1b9b9b9bdbdbdbbbbbbbfbf7f7878787c7c1c8d464f4e4ececece2e2e2eaeaeaeaeafaf6f6f6fefeeee1e1e1e9e9e9e5e5e5e92c9e4fbfbfbe7e7672a95ca6432d96c3697cbfdfdfda1a0a0a0a8a8a8a4a4c46834969595994ca68a8a8acacacaeaeaeadada5aabd56ab7db1b1a1a1a1b1b9b9b9b5b5b5bdbdbdb3b3b3b9d4e674f4f4f5f5f9fcbe51a1818181c1c1c1e1e1e1d1d1d1f1ff77abd535353d3d3d38140606666666e6e2e140a2d2e2e2e2f2fafaeaeaeafaf87c3e1adadad9d9d9dbdbdbd838383a3a3a34824128bc54e4f4fcfcfcf2f2f2fe3f1f8cdcd4d2291b8bfbf7f7c7c7c7e7e7e7d7d7d7b7bfbf8f8f8fafa4aa7d3dfdfdf3f3f3fbfbfbff97c5e9c9f49f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3731f48f3739f7fc139d15a47966bb30000000049454e44ae426082'),
  ('onepixel', '\x89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da63686868000003040181752e01bc0000000049454e44ae426082');

-- face_detect: every face, highest score first, boxes inside the photo,
-- 68 landmarks inside (or near) the box.
SELECT name, count(*) AS faces,
       bool_and(score >= 0.5) AS scores_ok,
       bool_and(x > -50 AND y > -50 AND x + width < 1970 AND y + height < 1330) AS boxes_ok,
       bool_and(array_length(landmarks, 1) = 68) AS landmarks_68
FROM faces_photos, face_detect(img) GROUP BY name ORDER BY name;
SELECT name, array_agg(face ORDER BY score DESC) = array_agg(face ORDER BY face) AS score_order
FROM faces_photos, face_detect(img) GROUP BY name ORDER BY name;
SELECT face, round(x / 10) * 10 AS x10, round(y / 10) * 10 AS y10, round(score::numeric, 1) AS score
FROM faces_photos, face_detect(img) WHERE name = 'sample1' ORDER BY face;
-- The landmarks lie in their face's box (eyes in the upper half).
SELECT face,
       (SELECT bool_and(p[0] BETWEEN x - 0.1 * width AND x + 1.1 * width AND p[1] BETWEEN y - 0.1 * height AND y + 1.1 * height)
          FROM unnest(landmarks) p) AS in_box,
       (landmarks[37])[1] < y + height / 2 AS left_eye_upper_half
FROM faces_photos, face_detect(img) WHERE name = 'sample1' ORDER BY face;

-- face_embed: the main face's encoding (the heaviest by box side times
-- 1 - distance of its centre from the photo's / half the diagonal; sample1 is
-- 1920x1280), which on sample1 is not the largest; face_embed_all: every face's.
SELECT name, face_embed(img) IS NOT NULL AS has_face FROM faces_photos ORDER BY name;
SELECT count(*) AS faces,
       count(*) FILTER (WHERE e.embedding = face_embed(p.img)) AS equal_to_face_embed,
       (array_agg(e.face ORDER BY sqrt(e.width * e.height) *
                  greatest(0, 1 - sqrt((e.x + e.width / 2 - 960) ^ 2 + (e.y + e.height / 2 - 640) ^ 2) /
                                  (sqrt(1920 ^ 2 + 1280 ^ 2) / 2)) DESC))[1] =
       (array_agg(e.face ORDER BY e.embedding = face_embed(p.img) DESC))[1] AS main_face,
       (array_agg(e.face ORDER BY e.width * e.height DESC))[1] <>
       (array_agg(e.face ORDER BY e.embedding = face_embed(p.img) DESC))[1] AS not_the_largest
FROM faces_photos p, face_embed_all(p.img) e WHERE p.name = 'sample1';
-- Encodings of different people are far apart; the same face across two
-- runs is identical.
SELECT bool_and(a.embedding <-> b.embedding > 0.3) AS distinct_people
FROM faces_photos p, face_embed_all(p.img) a, face_embed_all(p.img) b
WHERE p.name = 'sample1' AND a.face < b.face;
SELECT face_embed(img) = face_embed(img) AS deterministic FROM faces_photos WHERE name = 'sample2';
-- No face is an answer, not an error.
SELECT count(*) AS no_rows FROM faces_photos, face_detect(img) WHERE name IN ('noface', 'onepixel');
SELECT count(*) AS no_rows FROM faces_photos, face_embed_all(img) WHERE name IN ('noface', 'onepixel');

-- The GUCs: detector, alignment, detect_size, min_score.
SHOW faceid.detector;
SHOW faceid.alignment;
SHOW faceid.detect_size;
SHOW faceid.min_score;
SET faceid.detector = ssd;
SELECT count(*) AS ssd_faces FROM faces_photos, face_detect(img) WHERE name = 'sample1';
-- At 608 the tiny detector reads sample1 decoded at 1/2 (a 960 px JPEG
-- decode, not the full 1920 px point-sampled): its third face, which scores
-- 0.507 on the full decode, falls just under min_score 0.5 there.
SET faceid.detect_size = 608;
SET faceid.detector = tiny;
SELECT count(*) AS tiny608_faces FROM faces_photos, face_detect(img) WHERE name = 'sample1';
RESET faceid.detect_size;
CREATE TEMP TABLE similarity_enc AS SELECT face_embed(img) AS e FROM faces_photos WHERE name = 'sample1';
SET faceid.alignment = faceapi;
SELECT (face_embed(img) <-> (SELECT e FROM similarity_enc)) > 0.01 AS alignment_changes_encoding
FROM faces_photos WHERE name = 'sample1';
RESET faceid.alignment;
SET faceid.min_score = 0.999;
SELECT count(*) AS strict_faces FROM faces_photos, face_detect(img) WHERE name = 'sample1';
RESET faceid.min_score;
SET faceid.detect_size = 500;
SET faceid.detector = 'mtcnn';
SET faceid.alignment = 'none';
SET faceid.min_score = 2;

-- Errors come from the decoder, with DESIGN.md's SQLSTATEs.
\set VERBOSITY sqlstate
SELECT face_embed(''::bytea);
SELECT * FROM face_detect('\x00'::bytea);
SELECT * FROM face_embed_all(convert_to('GIF89a' || repeat('x', 40), 'UTF8'));
SELECT face_embed(substr(img, 1, 5000)) FROM faces_photos WHERE name = 'sample1';
SET faceid.max_image_pixels = 100000;
SELECT face_embed(img) FROM faces_photos WHERE name = 'sample1';
RESET faceid.max_image_pixels;
\set VERBOSITY default
SELECT 1 AS still_alive;

-- faceid_stats counts detector and encoder runs.
CREATE TEMP TABLE before AS SELECT * FROM faceid_stats();
SELECT face_embed(img) IS NOT NULL FROM faces_photos WHERE name = 'sample2';
SELECT s.detector_runs - b.detector_runs AS detector, s.encoder_runs - b.encoder_runs AS encoder
FROM faceid_stats() s, before b;
