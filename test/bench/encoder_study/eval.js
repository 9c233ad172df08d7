// eval.js: LFW View 1 accuracy of embedding files over all pairs (a photo
// without a face makes its pairs wrong).
//   node eval.js LFWDIR PREFIX LABEL=FILE[:METRIC[:PART]] ...
// FILE: embed.js output (DevTest photos; FILE with "test" replaced by "train"
// is read for DevTrain when present) or "faceid" (the 128-d descriptors in
// landmarks68's output PREFIX{test,train}.txt).  METRIC: cos (default), ccos (cosine after
// centring, see centre()) or l2.
// PART: chip (the first half of a --flip file), flip (mean of chip and
// mirror) or all (default).  Prints DevTest at the best DevTrain threshold
// (when DevTrain was encoded) and DevTest by 10-fold cross-validation.
'use strict';
const fs = require('fs');

// Pairs of a View 1 file as [pathA, pathB, same].
function pairs(dir, file, rel) {
  const out = [];
  const p = (n, i) => `${rel}/${n}/${n}_${String(i).padStart(4, '0')}.jpg`;
  for (const l of fs.readFileSync(`${dir}/${file}`, 'utf8').split('\n').slice(1)) {
    const t = l.trim().split(/\s+/);
    if (t.length === 3) out.push([p(t[0], t[1]), p(t[0], t[2]), true]);
    else if (t.length === 4) out.push([p(t[0], t[1]), p(t[2], t[3]), false]);
  }
  return out;
}

// path -> Float64Array (or null: no face) from an embedding file.
function readEmb(file, from, dim, part) {
  const m = new Map();
  if (!fs.existsSync(file)) return null;
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!l) continue;
    const t = l.split(' ');
    if (t[1] !== '1') { m.set(t[0], null); continue; }
    let v = t.slice(from, dim ? from + dim : undefined).map(Number);
    if (part !== 'all') {
      const h = v.length / 2;
      v = part === 'chip' ? v.slice(0, h) : v.slice(0, h).map((x, k) => (x + v[h + k]) / 2);
    }
    m.set(t[0], Float64Array.from(v));
  }
  return m;
}

// Distance of a pair (smaller = more alike); NaN when a photo has no face.
function dist(a, b, metric) {
  if (!a || !b) return NaN;
  let s = 0, na = 0, nb = 0;
  for (let k = 0; k < a.length; k++) { s += metric === 'l2' ? (a[k] - b[k]) ** 2 : a[k] * b[k]; na += a[k] * a[k]; nb += b[k] * b[k]; }
  return metric === 'l2' ? Math.sqrt(s) : 1 - s / Math.sqrt(na * nb);
}

// Subtract from every embedding of maps the mean embedding of ref (ccos: cosine
// after centring; the mean is DevTrain's when DevTrain was encoded, else DevTest's;
// no labels are used).
function centre(maps, ref) {
  const v = [...ref.values()].filter(Boolean);
  const mu = new Float64Array(v[0].length);
  for (const e of v) for (let k = 0; k < mu.length; k++) mu[k] += e[k] / v.length;
  const done = new Set();
  for (const m of maps) {
    for (const e of m.values()) {
      if (!e || done.has(e)) continue;
      done.add(e);
      for (let k = 0; k < mu.length; k++) e[k] -= mu[k];
    }
  }
}

// Correct pairs of ds (distance, same) at threshold t.
const correct = (ds, t) => ds.reduce((c, [d, same]) => c + (!Number.isNaN(d) && (d <= t) === same ? 1 : 0), 0);

// The threshold that classifies ds best (midpoint between neighbouring distances).
function bestThreshold(ds) {
  const v = ds.map(([d]) => d).filter((d) => !Number.isNaN(d)).sort((a, b) => a - b);
  let best = v[0] - 1, bc = correct(ds, best);
  for (let i = 0; i + 1 < v.length; i++) {
    const t = (v[i] + v[i + 1]) / 2, c = correct(ds, t);
    if (c > bc) { bc = c; best = t; }
  }
  return best;
}

function main() {
  const [dir, prefix, ...specs] = process.argv.slice(2);
  const rel = fs.readFileSync(`${prefix}test.txt`, 'utf8').split(' ')[0].replace(/\/[^/]+\/[^/]+$/, '');
  const test = pairs(dir, 'pairsDevTest.txt', rel), train = pairs(dir, 'pairsDevTrain.txt', rel);
  console.log(`| encoder, alignment, scaling | metric | DevTest (DevTrain thr.) | DevTest (10-fold CV) | no face | pairs |`);
  console.log('|---|---|---|---|---|---|');
  for (const spec of specs) {
    const [label, rest] = spec.split('=');
    const [file, metric0 = 'cos', part = 'all'] = rest.split(':');
    const metric = file === 'faceid' ? 'l2' : metric0;
    const faceid = file === 'faceid';
    const load = (f) => (faceid ? readEmb(f, 6 + 136, 128, 'all') : readEmb(f, 2, 0, part));
    const te = load(faceid ? `${prefix}test.txt` : file);
    const tr = load(faceid ? `${prefix}train.txt` : file.replace('test', 'train'));
    const m = faceid ? 'l2' : metric === 'ccos' ? 'cos' : metric;
    if (metric === 'ccos') centre(tr && tr.size ? [tr, te] : [te], tr && tr.size ? tr : te);
    // a screening run encodes a subset: score the pairs whose photos were both looked at
    const dte = test.filter(([a, b]) => te.has(a) && te.has(b)).map(([a, b, s]) => [dist(te.get(a), te.get(b), m), s]);
    let trainCol = '—';
    if (tr && train.every(([a, b]) => (tr.has(a) || te.has(a)) && (tr.has(b) || te.has(b)))) {
      const g = (p) => (tr.has(p) ? tr.get(p) : te.get(p));
      const t = bestThreshold(train.map(([a, b, s]) => [dist(g(a), g(b), m), s]));
      trainCol = `${(100 * correct(dte, t) / dte.length).toFixed(1)}% (${t.toFixed(4)})`;
    }
    let cv = 0;
    for (let f = 0; f < 10; f++) {
      const t = bestThreshold(dte.filter((_, i) => i % 10 !== f));
      cv += correct(dte.filter((_, i) => i % 10 === f), t);
    }
    const none = [...te.values()].filter((v) => !v).length;
    console.log(`| ${label} | ${metric} | ${trainCol} | ${(100 * cv / dte.length).toFixed(1)}% | ${none} | ${dte.length} |`);
  }
}

main();
