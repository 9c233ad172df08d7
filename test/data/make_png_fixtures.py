#!/usr/bin/env python3
"""Print the PNG byte strings that sql/badinput.sql embeds as hex literals.

    python3 test/data/make_png_fixtures.py

Each PNG is built chunk by chunk with zlib and a correct CRC, so the test
does not depend on any image tool; the output was pasted into
sql/badinput.sql once, and running this again prints the same bytes.
"""
import struct
import zlib


def chunk(kind, data):
    return (struct.pack('>I', len(data)) + kind + data
            + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))


def png(width, height, depth, colour, raw_rows, level=9):
    ihdr = struct.pack('>IIBBBBB', width, height, depth, colour, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr)
            + chunk(b'IDAT', zlib.compress(raw_rows, level)) + chunk(b'IEND', b''))


fixtures = {
    # 1x1 RGB, one mid-grey pixel (filter byte 0 + 3 samples)
    'one_pixel': png(1, 1, 8, 2, b'\x00\x80\x80\x80'),
    # the bomb: a 68-byte file whose IHDR claims 100000 x 100000 RGB
    # (10^10 pixels, 30 GB decoded); its IDAT holds one row of zeros
    'bomb': png(100000, 100000, 8, 2, b'\x00' * 16),
    # a 10 x 100000 grey strip (1 M pixels, under the limit): every row is
    # filter 0 + ten 0x80 samples, so it deflates to a few hundred bytes
    'strip': png(10, 100000, 8, 0, (b'\x00' + b'\x80' * 10) * 100000),
}

for name, data in fixtures.items():
    print('-- %s: %d bytes' % (name, len(data)))
    print("\\set %s '\\\\x%s'" % (name, data.hex()))
