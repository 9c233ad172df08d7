-- Hostile input: every bad photo is a clear error with DESIGN.md's SQLSTATE
-- (22P03 corrupt or truncated, 0A000 unsupported format, 54000 over
-- faceid.max_image_pixels) or a correct answer, through both face_embed and
-- face_detect, and the session always goes on (SELECT 1 after each case).
--
-- How the inputs were made:
--  - JPEG cases patch the demo photo build/faceid_sample1.jpg (1920x1280,
--    baseline; byte offsets below are 1-based as overlay() counts them):
--    SOF0 at 4333 (height at 4338, width at 4340), the first DHT (luma DC)
--    at 4352 with its 16 code-length counts at 4357..4372 (offsets found
--    by walking the marker segments);
--  - the PNGs (1x1, the bomb, the 10x100000 strip) are hex literals printed
--    by test/data/make_png_fixtures.py (zlib + correct CRCs, no image tool);
--  - test/data/grey16.png and test/data/cmyk.jpg come from
--    test/core/tool_fixtures.c (see its header for the command): a face
--    cropped from sample1, shrunk 3x, as 16-bit grey PNG and as inverted
--    (Adobe) CMYK JPEG; these two must work;
--  - WebP, GIF, PGM and BMP are the smallest valid 1x1 files of each.
\set s1 `base64 -w0 "$PG_ABS_SRCDIR/build/faceid_sample1.jpg"`
\set grey16 `base64 -w0 "$PG_ABS_SRCDIR/test/data/grey16.png"`
\set cmyk `base64 -w0 "$PG_ABS_SRCDIR/test/data/cmyk.jpg"`
-- one_pixel: 69 bytes
\set one_pixel '\\x89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da63686868000003040181752e01bc0000000049454e44ae426082'
-- bomb: 68 bytes
\set bomb '\\x89504e470d0a1a0a0000000d49484452000186a0000186a0080200000027309c9f0000000b4944415478da636040050000100001aa19f8820000000049454e44ae426082'
-- strip: 2215 bytes
\set strip '\\x89504e470d0a1a0a0000000d494844520000000a000186a0080000000037b27dbf0000086e4944415478daedc6a10100000c02204ff774db6e5880447aa2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3f3a3c6c927052e3b04e0000000049454e44ae426082'

CREATE TABLE bad (id int, name text, img bytea);
CREATE TEMP TABLE s AS SELECT decode(:'s1', 'base64') AS img;
INSERT INTO bad SELECT * FROM (VALUES
  (1, 'empty', ''::bytea),
  (2, 'one_byte_00', '\x00'::bytea),
  (3, 'one_byte_ff', '\xff'::bytea),
  -- 64 fixed "random" bytes (starting efa8aa7b: no known magic)
  (4, 'random', decode(md5('faceid') || md5('bad') || md5('input') || md5('bytes'), 'hex')),
  (5, 'jpeg_cut_10pct', substr((SELECT img FROM s), 1, length((SELECT img FROM s)) / 10)),
  (6, 'jpeg_cut_50pct', substr((SELECT img FROM s), 1, length((SELECT img FROM s)) / 2)),
  (7, 'jpeg_cut_99pct', substr((SELECT img FROM s), 1, length((SELECT img FROM s)) * 99 / 100)),
  -- DC table's 16 code-length counts all 0xff: 4080 codes, a bogus table
  (8, 'jpeg_bad_dht_counts', overlay((SELECT img FROM s) PLACING '\xffffffffffffffffffffffffffffffff'::bytea FROM 4357)),
  -- counts 0,0,...,0,12 moved to length 1: 12 codes of one bit cannot exist
  (9, 'jpeg_bad_dht_oversubscribed', overlay((SELECT img FROM s) PLACING '\x0c000000000000000000000000000000'::bytea FROM 4357)),
  (10, 'jpeg_65500x65500', overlay((SELECT img FROM s) PLACING '\xffdcffdc'::bytea FROM 4338)),
  -- IHDR's CRC (bytes 30..33) with its last bit flipped
  (11, 'png_bad_crc', set_byte(:'one_pixel'::bytea, 32, get_byte(:'one_pixel'::bytea, 32) # 1)),
  (12, 'png_bomb', :'bomb'::bytea),
  -- lossless WebP 1x1 (RIFF....WEBPVP8L)
  (13, 'webp', '\x524946461a000000574542505650384c0d0000002f0000001007101111888808fe0700'::bytea),
  (14, 'gif', '\x47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b'::bytea),
  -- "P5\n1 1\n255\n" and one sample
  (15, 'pgm', '\x50350a3120310a3235350a80'::bytea),
  -- BITMAPFILEHEADER + BITMAPINFOHEADER, 1x1 24-bit, one padded row
  (16, 'bmp', '\x424d3a000000000000003600000028000000010000000100000001001800000000000400000000000000000000000000000000000000808080ff'::bytea),
  (17, 'png_1x1', :'one_pixel'::bytea),
  (18, 'png_strip_10x100000', :'strip'::bytea),
  (19, 'png_grey16', decode(:'grey16', 'base64')),
  (20, 'jpeg_cmyk', decode(:'cmyk', 'base64'))
) v;
SELECT id, name, length(img) AS bytes, substr(encode(img, 'hex'), 1, 16) AS first_bytes FROM bad ORDER BY id;

-- Each case through face_embed, then face_detect, then SELECT 1: the error
-- reaches the client as a plain ERROR and the backend goes on.
\set VERBOSITY sqlstate
-- empty
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'empty';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'empty';
SELECT 1;
-- one_byte_00
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'one_byte_00';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'one_byte_00';
SELECT 1;
-- one_byte_ff
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'one_byte_ff';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'one_byte_ff';
SELECT 1;
-- random
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'random';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'random';
SELECT 1;
-- jpeg_cut_10pct
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'jpeg_cut_10pct';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'jpeg_cut_10pct';
SELECT 1;
-- jpeg_cut_50pct
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'jpeg_cut_50pct';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'jpeg_cut_50pct';
SELECT 1;
-- jpeg_cut_99pct
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'jpeg_cut_99pct';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'jpeg_cut_99pct';
SELECT 1;
-- jpeg_bad_dht_counts
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'jpeg_bad_dht_counts';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'jpeg_bad_dht_counts';
SELECT 1;
-- jpeg_bad_dht_oversubscribed
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'jpeg_bad_dht_oversubscribed';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'jpeg_bad_dht_oversubscribed';
SELECT 1;
-- jpeg_65500x65500
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'jpeg_65500x65500';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'jpeg_65500x65500';
SELECT 1;
-- png_bad_crc
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'png_bad_crc';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'png_bad_crc';
SELECT 1;
-- png_bomb
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'png_bomb';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'png_bomb';
SELECT 1;
-- webp
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'webp';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'webp';
SELECT 1;
-- gif
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'gif';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'gif';
SELECT 1;
-- pgm
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'pgm';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'pgm';
SELECT 1;
-- bmp
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'bmp';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'bmp';
SELECT 1;
-- png_1x1
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'png_1x1';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'png_1x1';
SELECT 1;
-- png_strip_10x100000
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'png_strip_10x100000';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'png_strip_10x100000';
SELECT 1;
-- png_grey16
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'png_grey16';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'png_grey16';
SELECT 1;
-- jpeg_cmyk
SELECT face_embed(img) IS NULL AS no_face FROM bad WHERE name = 'jpeg_cmyk';
SELECT count(*) AS faces FROM bad, face_detect(img) WHERE name = 'jpeg_cmyk';
SELECT 1;
\set VERBOSITY default

-- The messages: what was wrong, in words (a few, through face_embed).
SELECT face_embed(img) FROM bad WHERE name = 'empty';
SELECT face_embed(img) FROM bad WHERE name = 'random';
SELECT face_embed(img) FROM bad WHERE name = 'jpeg_cut_50pct';
SELECT face_embed(img) FROM bad WHERE name = 'jpeg_bad_dht_counts';
SELECT face_embed(img) FROM bad WHERE name = 'jpeg_65500x65500';
SELECT face_detect(img) FROM bad WHERE name = 'png_bomb';
SELECT face_detect(img) FROM bad WHERE name = 'png_bad_crc';
SELECT face_embed(img) FROM bad WHERE name = 'webp';
SELECT face_embed(img) FROM bad WHERE name = 'bmp';
SELECT 1;

-- Every case at once, caught in PL/pgSQL: SQLSTATE of each function, or
-- what it answered.
CREATE FUNCTION try_photo(f text, img bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  IF f = 'face_embed' THEN
    SELECT CASE WHEN face_embed(img) IS NULL THEN 'NULL' ELSE 'embedding' END INTO r;
  ELSE
    SELECT count(*) || ' faces' INTO r FROM face_detect(img);
  END IF;
  RETURN r;
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;
SELECT id, name, try_photo('face_embed', img) AS face_embed, try_photo('face_detect', img) AS face_detect
FROM bad ORDER BY id;

-- The oversized headers are refused from the header, before any pixel is
-- decoded: fast, and nothing counted as decoded.
CREATE FUNCTION refuse_ms(img bytea) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  PERFORM face_embed(img);
  RETURN -1;
EXCEPTION WHEN program_limit_exceeded THEN
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
CREATE TEMP TABLE before AS SELECT images_decoded FROM faceid_stats();
SELECT name, refuse_ms(img) BETWEEN 0 AND 500 AS refused_fast
FROM bad WHERE name IN ('jpeg_65500x65500', 'png_bomb') ORDER BY id;
SELECT s.images_decoded - b.images_decoded AS decoded FROM faceid_stats() s, before b;

-- The limit is a user's knob: a lower faceid.max_image_pixels refuses the
-- demo photo (2.4 Mpx) with 54000 and a hint, and RESET restores it.
SET faceid.max_image_pixels = 1000000;
SELECT face_embed(img) FROM s;
RESET faceid.max_image_pixels;
SELECT face_embed(img) IS NOT NULL AS embedded FROM s;

-- The two unusual but valid photos give the right person: the face of the
-- crop matches face 1 of the full-colour demo photo it was cut from.
SELECT b.name, f.face, f.width > 50 AS plausible_box,
       face_match(f.embedding, (SELECT embedding FROM s, face_embed_all(img) WHERE face = 1)) AS same_person
FROM bad b, face_embed_all(b.img) f WHERE b.name IN ('png_grey16', 'jpeg_cmyk') ORDER BY b.id, f.face;
-- (measured: 0.26 for the grey one, 0.15 for the CMYK one)
SELECT b.name, face_embed(b.img) <-> (SELECT embedding FROM s, face_embed_all(img) WHERE face = 1) < 0.4 AS close
FROM bad b WHERE b.name IN ('png_grey16', 'jpeg_cmyk') ORDER BY b.id;
SELECT 1;
DROP TABLE bad;
