#!/usr/bin/env node
// convert_weights.js [model_dir] [out_file]
//   Convert the five face-api 1.7.15 models (manifest + .bin) into one
//   versioned, checksummed, 64-byte-aligned little-endian float32 file.
//   Defaults: model_dir = <repo>/.cache/face-api-1.7.15/model (see
//   fetch_weights.sh), out_file = <repo>/build/faceid_weights.bin.
//   Plain node, no npm dependencies.
//
// File format (version 1, all integers little-endian):
//   header, 128 bytes:
//     0   char[8]  magic "FACEIDW\0"
//     8   u32      format version (1)
//     12  u32      tensor count N
//     16  u64      total file size in bytes
//     24  u64      FNV-1a 64 over the u64 LE words of bytes [128, total)
//                  (table + data; h = (h ^ word) * 0x100000001b3)
//     32  u64      table offset (128)
//     40  u64      data offset (64-aligned)
//     48  char[32] model version, NUL-padded ("face-api-1.7.15")
//     80  zero
//   table, N entries of 128 bytes:
//     0   char[80] name, NUL-padded ("<net>/<tensor>")
//     80  u32      ndim (0..6)
//     84  u32[6]   shape (unused dims 0)
//     108 u32      zero
//     112 u64      absolute byte offset of the data (64-aligned)
//     120 u64      element count
//   data: float32 tensors, each starting at a multiple of 64.
//
// Nets and names: "recognition/..." has the conv bias and the affine scale
// folded into each conv (W' = W*w per out-channel, b' = bias*w + b), stored
// as "recognition/<layer>/filters" [k,k,cin,cout] and ".../bias" [cout], plus
// "recognition/fc" [256,128].  The other nets ("tiny/", "ssd/",
// "landmark68/", "landmark68_tiny/") are stored raw, one tensor per manifest
// entry, under their manifest names (dequantized; the SSD int32 constants
// as rounded float32 values).
'use strict';
const fs = require('fs');
const path = require('path');

const MAGIC = 'FACEIDW\0';
const FORMAT_VERSION = 1;
const MODEL_VERSION = 'face-api-1.7.15';
const HEADER_SIZE = 128;
const ENTRY_SIZE = 128;
const NAME_MAX = 80;
const MAX_DIMS = 6;

const NETS = [
	['recognition', 'face_recognition_model'],
	['tiny', 'tiny_face_detector_model'],
	['ssd', 'ssd_mobilenetv1_model'],
	['landmark68', 'face_landmark_68_model'],
	['landmark68_tiny', 'face_landmark_68_tiny_model'],
];

// Fail with a message and a non-zero exit code.
function die(msg) {
	process.stderr.write('convert_weights: ' + msg + '\n');
	process.exit(1);
}

// Element count of a shape ([] = scalar = 1).
function numel(shape) {
	return shape.reduce((a, b) => a * b, 1);
}

// Read one model: returns [{name, shape, data: Float32Array}] in manifest order.
function readModel(dir, base) {
	const manPath = path.join(dir, base + '-weights_manifest.json');
	let groups;
	try {
		groups = JSON.parse(fs.readFileSync(manPath, 'utf8'));
	} catch (e) {
		die(`cannot read ${manPath}: ${e.message}`);
	}
	const out = [];
	for (const g of groups) {
		const binPath = path.join(dir, g.paths[0]);
		if (g.paths.length !== 1)
			die(`${manPath}: expected one shard, got ${g.paths.length}`);
		const buf = fs.readFileSync(binPath);
		let off = 0;
		for (const w of g.weights) {
			const n = numel(w.shape);
			const data = new Float32Array(n);
			const q = w.quantization;
			if (q) {
				if (q.dtype !== 'uint8')
					die(`${w.name}: unsupported quantization ${q.dtype}`);
				if (off + n > buf.length) die(`${binPath}: truncated at ${w.name}`);
				for (let i = 0; i < n; i++) {
					const v = buf[off + i] * q.scale + q.min; // double, no FMA (JS)
					data[i] = w.dtype === 'int32' ? Math.round(v) : Math.fround(v);
				}
				off += n;
			} else {
				if (w.dtype !== 'float32') die(`${w.name}: unsupported dtype ${w.dtype}`);
				if (off + 4 * n > buf.length) die(`${binPath}: truncated at ${w.name}`);
				for (let i = 0; i < n; i++)
					data[i] = buf.readFloatLE(off + 4 * i);
				off += 4 * n;
			}
			out.push({ name: w.name, shape: w.shape.slice(), data });
		}
		if (off !== buf.length)
			die(`${binPath}: ${buf.length} bytes, manifest describes ${off}`);
	}
	return out;
}

// Fold conv bias + affine scale of the recognition net into its convs.
function foldRecognition(tensors) {
	const byName = new Map(tensors.map((t) => [t.name, t]));
	const get = (n) => {
		const t = byName.get(n);
		if (!t) die(`recognition: missing tensor ${n}`);
		return t;
	};
	const out = [];
	for (const t of tensors) {
		if (t.name === 'fc') {
			out.push({ name: 'fc', shape: t.shape, data: t.data });
			continue;
		}
		if (!t.name.endsWith('/conv/filters')) continue;
		const p = t.name.slice(0, -'/conv/filters'.length);
		const bias = get(p + '/conv/bias').data;
		const sw = get(p + '/scale/weights').data;
		const sb = get(p + '/scale/biases').data;
		const cout = t.shape[3];
		const W = new Float32Array(t.data.length);
		for (let i = 0; i < W.length; i++)
			W[i] = Math.fround(t.data[i] * sw[i % cout]);
		const B = new Float32Array(cout);
		for (let c = 0; c < cout; c++)
			B[c] = Math.fround(Math.fround(bias[c] * sw[c]) + sb[c]);
		out.push({ name: p + '/filters', shape: t.shape, data: W });
		out.push({ name: p + '/bias', shape: [cout], data: B });
	}
	return out;
}

// FNV-1a 64 over 64-bit little-endian words (not bytes: 8x faster to check
// at load time), with 64-bit arithmetic on two 32-bit halves.
function fnv1a64w(buf, start, end) {
	// offset basis 0xcbf29ce484222325, prime 0x100000001b3 = 2^40 + 0x1b3
	let hi = 0xcbf29ce4, lo = 0x84222325;
	for (let i = start; i < end; i += 8) {
		lo = (lo ^ buf.readUInt32LE(i)) >>> 0;
		hi = (hi ^ buf.readUInt32LE(i + 4)) >>> 0;
		const l = lo * 0x1b3;               // < 2^41, exact in a double
		const carry = Math.floor(l / 4294967296);
		const h = (Math.imul(hi, 0x1b3) + carry) >>> 0;
		hi = (h + ((lo << 8) >>> 0)) >>> 0; // + (hi:lo) << 40
		lo = l >>> 0;
	}
	return (BigInt(hi) << 32n) | BigInt(lo);
}

// Write the single weights file.
function writeFile(outPath, tensors) {
	const align = (x) => Math.ceil(x / 64) * 64;
	const tableOff = HEADER_SIZE;
	const dataOff = align(tableOff + ENTRY_SIZE * tensors.length);
	let off = dataOff;
	for (const t of tensors) {
		if (Buffer.byteLength(t.name) >= NAME_MAX) die(`name too long: ${t.name}`);
		if (t.shape.length > MAX_DIMS) die(`too many dims: ${t.name}`);
		if (numel(t.shape) !== t.data.length) die(`shape/data mismatch: ${t.name}`);
		t.offset = off;
		off = align(off + 4 * t.data.length);
	}
	const total = off;
	const buf = Buffer.alloc(total);
	buf.write(MAGIC, 0, 'latin1');
	buf.writeUInt32LE(FORMAT_VERSION, 8);
	buf.writeUInt32LE(tensors.length, 12);
	buf.writeBigUInt64LE(BigInt(total), 16);
	buf.writeBigUInt64LE(BigInt(tableOff), 32);
	buf.writeBigUInt64LE(BigInt(dataOff), 40);
	buf.write(MODEL_VERSION, 48, 'latin1');
	tensors.forEach((t, i) => {
		const e = tableOff + i * ENTRY_SIZE;
		buf.write(t.name, e, 'utf8');
		buf.writeUInt32LE(t.shape.length, e + 80);
		t.shape.forEach((d, k) => buf.writeUInt32LE(d, e + 84 + 4 * k));
		buf.writeBigUInt64LE(BigInt(t.offset), e + 112);
		buf.writeBigUInt64LE(BigInt(t.data.length), e + 120);
		Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(buf, t.offset);
	});
	const sum = fnv1a64w(buf, HEADER_SIZE, total);
	buf.writeBigUInt64LE(sum, 24);
	fs.mkdirSync(path.dirname(outPath), { recursive: true });
	const tmp = outPath + '.tmp' + process.pid;
	fs.writeFileSync(tmp, buf);
	fs.renameSync(tmp, outPath);
	return { total, sum };
}

// Entry point.
function main() {
	const repo = path.resolve(__dirname, '..', '..');
	const dir = process.argv[2] || path.join(repo, '.cache', 'face-api-1.7.15', 'model');
	const outPath = process.argv[3] || path.join(repo, 'build', 'faceid_weights.bin');
	if (new Uint8Array(new Float32Array([1]).buffer)[3] !== 0x3f) die('big-endian host');
	const all = [];
	for (const [net, base] of NETS) {
		let ts = readModel(dir, base);
		if (net === 'recognition') ts = foldRecognition(ts);
		for (const t of ts) all.push({ name: net + '/' + t.name, shape: t.shape, data: t.data });
	}
	const { total, sum } = writeFile(outPath, all);
	console.log(`${outPath}: ${all.length} tensors, ${total} bytes, fnv1a64w ${sum.toString(16).padStart(16, '0')}`);
}

main();
