// The browser test of faceid's web demo (run by test/web/run_test.sh, inside pg_virtualenv).
//
// Starts `test/demo.sh --web` on the current throw-away cluster, drives Debian's
// chromium with playwright-core, and checks what the page draws against what the
// database answers (psql, written here independently of the server): three boxes
// with 68 landmarks each on faceid_sample1.jpg and the names,
// false_accept and rule that face_identify gives on the gallery `people` labelled
// by `name` (or, when the database refuses to calibrate a gallery that small,
// the nearest row within faceid.match_threshold, which the page must call
// "uncalibrated: 1:1 threshold"); the stored calibration is the one the current
// rows give, at start-up and after every enrolment and removal from the page;
// a face enrolled from the page is stored as a crop, encoded by the
// trigger, and recognised in a second photo; a corrupt JPEG and a WebP file show
// the database's own error, and the page still works afterwards.  Screenshots and
// the demo's log go to test/web/out/ (FACEID_WEB_OUT).  Every wait is generous
// (CI has two noisy cores); nothing is timed.
'use strict';

const { chromium } = require('playwright-core');
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const OUT = process.env.FACEID_WEB_OUT || path.join(__dirname, 'out');
const PORT = process.env.FACEID_WEB_PORT || '8432';
const WAIT = 300000;  // ms: a generous bound for the demo's enrolment and for each page step
const SAMPLE1 = path.join(ROOT, 'build', 'faceid_sample1.jpg');  // three faces
const SAMPLE2 = path.join(ROOT, 'build', 'faceid_sample2.jpg');  // one face
const SAMPLE3 = path.join(ROOT, 'build', 'faceid_sample3.jpg');  // three faces; one is sample1's rightmost person
const NEW_NAME = 'Ada Testperson';

let failures = 0;
let checks = 0;

// Record one check, TAP-like.
function check(ok, what, detail) {
  checks++;
  if (ok) {
    console.log('ok ' + checks + ' - ' + what);
  } else {
    failures++;
    console.log('not ok ' + checks + ' - ' + what + (detail !== undefined ? '\n#   ' + JSON.stringify(detail) : ''));
  }
  return ok;
}

// Run SQL through psql (the libpq environment of pg_virtualenv); return {out, err, status}.
function psql(sql) {
  // the photos are inline literals: keep them out of the server log that pg_virtualenv prints on failure
  const env = { ...process.env, PGOPTIONS: '-c log_min_error_statement=panic' };
  const r = spawnSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-F', '\t'],
                      { input: sql, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { out: r.stdout.trim(), err: r.stderr.trim(), status: r.status };
}

// A bytea literal of a file's (or a buffer's) bytes.
function bytea(data) {
  const buf = Buffer.isBuffer(data) ? data : fs.readFileSync(data);
  return "decode('" + buf.toString('base64') + "', 'base64')";
}

// What the database says of the gallery now: {rule, current}.  It calibrates the
// current rows in a transaction it rolls back: refused with 55000 (too few people)
// means rule 'threshold'; else rule 'identify', and current says whether the stored
// calibration is the one the current rows give (the server must have renewed it).
function galleryState() {
  const stored = `(SELECT array_agg(row(labels, photos, scores)::text ORDER BY settings)
                   FROM faceid_identify_calibration
                   WHERE gallery = 'people'::regclass AND label_column = 'name' AND embedding_column = 'embedding')`;
  const r = psql(`\\set VERBOSITY sqlstate
    BEGIN;
    CREATE TEMP TABLE stored AS SELECT ${stored} AS a;
    SELECT count(*) FROM face_identify_calibrate('people', 'name');
    SELECT a IS NOT DISTINCT FROM ${stored} FROM stored;
    ROLLBACK;`);
  if (r.status !== 0) {
    if (/\b55000\b/.test(r.err)) return { rule: 'threshold', current: null };
    throw new Error('psql: ' + r.err);
  }
  return { rule: 'identify', current: r.out.split('\n').pop() === 't' };
}

// What the database says about each face of a photo: [{x, y, name, falseAccept}], by
// face_identify, or by the nearest row within the 1:1 threshold under rule 'threshold'.
function expectedFaces(photo, rule) {
  const r = psql(rule === 'identify' ? `
    SELECT e.x, e.y, CASE WHEN r.accepted THEN r.label ELSE 'unknown' END, r.false_accept
    FROM face_embed_all(${bytea(photo)}) e
    LEFT JOIN LATERAL face_identify(e.embedding, 'people', 'name') r ON true
    ORDER BY e.face;` : `
    SELECT e.x, e.y, CASE WHEN b.d <= current_setting('faceid.match_threshold')::float8
                          THEN b.name ELSE 'unknown' END, NULL
    FROM face_embed_all(${bytea(photo)}) e
    LEFT JOIN LATERAL (SELECT name, embedding <-> e.embedding AS d FROM people
                       ORDER BY embedding <-> e.embedding LIMIT 1) b ON true
    ORDER BY e.face;`);
  if (r.status !== 0) throw new Error('psql: ' + r.err);
  return r.out.split('\n').filter(Boolean).map((l) => {
    const [x, y, name, fa] = l.split('\t');
    return { x: Number(x), y: Number(y), name, falseAccept: fa === '' ? null : Number(fa) };
  });
}

// The rule the database implies now, checked to be calibrated when it is face_identify's.
function currentRule(what) {
  const g = galleryState();
  if (g.rule === 'identify') {
    check(g.current, what + ': the stored calibration is the one the current rows give');
  } else {
    console.log('# ' + what + ': the database refuses to calibrate a gallery this small (55000): the 1:1 threshold decides');
  }
  return g.rule;
}

// The database's error message for a photo (face_detect's), without psql's "ERROR:" prefix.
function expectedError(buf) {
  const r = psql(`SELECT count(*) FROM face_detect(${bytea(buf)});`);
  if (r.status === 0) throw new Error('the database accepted bytes that the test meant to be bad');
  return r.err.replace(/^ERROR:\s+/, '').split('\n')[0];
}

// Start `test/demo.sh --web` in its own process group; resolve to {proc, url} once it serves.
function startDemo() {
  const log = fs.createWriteStream(path.join(OUT, 'demo.log'));
  const proc = spawn('bash', [path.join(ROOT, 'test', 'demo.sh'), '--web'], {
    cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FACEID_DEMO_INSIDE: '1', FACEID_WEB_PORT: PORT },
  });
  proc.stderr.pipe(log);
  // never leave the demo (its own process group) behind, whatever ends this process
  const stop = () => { try { process.kill(-proc.pid, 'SIGKILL'); } catch (e) { /* already gone */ } };
  process.on('exit', () => { if (proc.exitCode === null && proc.signalCode === null) stop(); });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { stop(); process.exit(1); });
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      process.kill(-proc.pid, 'SIGINT');
      reject(new Error('the demo did not start serving within ' + WAIT / 1000 + ' s; see out/demo.log'));
    }, WAIT);
    proc.stdout.on('data', (chunk) => {
      log.write(chunk);
      seen += chunk;
      const m = seen.match(/faceid web demo: (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) { clearTimeout(timer); resolve({ proc, url: m[1] }); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error('the demo exited (' + code + ') before serving; see out/demo.log')); });
  });
}

// Stop the demo as Ctrl-C would (SIGINT to its group) and wait for it to exit.
function stopDemo(demo) {
  return new Promise((resolve) => {
    if (demo.proc.exitCode !== null) { resolve(demo.proc.exitCode); return; }
    const timer = setTimeout(() => { process.kill(-demo.proc.pid, 'SIGKILL'); }, WAIT);
    demo.proc.on('exit', (code, signal) => { clearTimeout(timer); resolve(code !== null ? code : signal); });
    process.kill(-demo.proc.pid, 'SIGINT');
  });
}

// A raw HTTP request to the server (for what a page cannot send); resolve to {status, body}.
function rawRequest(url, method, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Choose a file in the page's file input and wait until the page has the database's answer.
async function upload(page, file) {
  await page.setInputFiles('#file', file);
  const name = typeof file === 'string' ? path.basename(file) : file.name;
  await page.waitForFunction((n) => {
    const s = document.getElementById('status');
    return s.textContent.startsWith(n + ':') && (s.dataset.state === 'done' || s.dataset.state === 'error');
  }, name, { timeout: WAIT });
  return page.$eval('#status', (s) => s.dataset.state);
}

// What the page drew: per face, its box, its visible label and the landmarks inside the box.
function drawnFaces(page) {
  return page.$$eval('#overlay g.face', (groups) => groups.map((g) => {
    const r = g.querySelector('rect.face-box');
    const box = ['x', 'y', 'width', 'height'].map((k) => Number(r.getAttribute(k)));
    const face = g.dataset.face;
    const labelDiv = document.querySelector(`.face-label[data-face="${face}"]`);
    const labelEl = labelDiv && labelDiv.querySelector('b');
    const pts = [...g.querySelectorAll('circle.landmark')].map((c) => [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))]);
    const [x, y, w, h] = box;
    const inside = pts.filter(([px, py]) => px >= x - w / 4 && px <= x + w * 1.25 && py >= y - h / 4 && py <= y + h * 1.25).length;
    return { face, box, name: labelEl ? labelEl.textContent : null, landmarks: pts.length, inside,
             rule: labelDiv ? labelDiv.dataset.rule || null : null,
             falseAccept: labelDiv && labelDiv.dataset.falseAccept !== undefined ? Number(labelDiv.dataset.falseAccept) : null,
             text: labelDiv ? labelDiv.textContent : '',
             lines: g.querySelectorAll('.landmark-line').length };
  }));
}

// Pair the page's faces with the database's by the nearest box corner; compare the
// names, the false_accept shown and what the page says decided (rule).
async function compareNames(page, drawn, photo, rule, what) {
  const expected = expectedFaces(photo, rule);
  const shownRule = await page.$eval('#rule', (e) => e.dataset.rule);
  check(shownRule === rule, what + ': the page says the ' + (rule === 'identify' ? 'face_identify' : '1:1 threshold') + ' rule decided',
        shownRule);
  check(drawn.length === expected.length, what + ': as many faces drawn as the database finds (' + expected.length + ')',
        { drawn: drawn.length, expected: expected.length });
  for (const e of expected) {
    const d = drawn.reduce((best, f) => {
      const dist = Math.hypot(f.box[0] - e.x, f.box[1] - e.y);
      return !best || dist < best.dist ? { f, dist } : best;
    }, null);
    check(d && d.dist < 1 && d.f.name === e.name,
          what + ': the face at (' + Math.round(e.x) + ', ' + Math.round(e.y) + ') is labelled "' + e.name + '"',
          d && { drawn: d.f.name, box: d.f.box });
    if (!d || d.f.rule === null) continue;  // no encoding: nobody to name
    if (rule === 'identify') {
      check(d.f.rule === 'identify' && d.f.falseAccept === e.falseAccept && /false accept (< )?\d/.test(d.f.text),
            what + ': its label shows face_identify\'s false_accept ' + e.falseAccept,
            { rule: d.f.rule, falseAccept: d.f.falseAccept, text: d.f.text });
    } else {
      check(d.f.rule === 'threshold' && d.f.falseAccept === null && d.f.text.includes('uncalibrated: 1:1 threshold'),
            what + ': its label says "uncalibrated: 1:1 threshold"', { rule: d.f.rule, text: d.f.text });
    }
  }
}

// The whole scenario.
async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  for (const f of fs.readdirSync(OUT)) if (f.endsWith('.png')) fs.unlinkSync(path.join(OUT, f));
  const demo = await startDemo();
  console.log('# the demo serves ' + demo.url);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'faceid-web-chromium-'));
  let context;
  const pageErrors = [];
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.FACEID_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1200, height: 900 },
      timeout: WAIT,
    });
    context.setDefaultTimeout(WAIT);
    const page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    // the 422 answers are the bad photos' errors, which the test provokes
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 422/.test(m.text())) console.log('# browser console: ' + m.text());
    });

    // 1. The page and the enrolled people.
    await page.goto(demo.url);
    const enrolled = Number(psql('SELECT count(*) FROM people;').out);
    await page.waitForFunction((n) => document.querySelectorAll('#people li').length === n, enrolled);
    check(enrolled > 0, 'the page lists the ' + enrolled + ' enrolled rows');
    const thumbs = await page.$$eval('#people li img', (imgs) => imgs.map((i) => i.src));
    const withPhoto = Number(psql('SELECT count(*) FROM people WHERE photo IS NOT NULL;').out);
    check(thumbs.length === withPhoto, 'a thumbnail for each of the ' + withPhoto + ' enrolled photos', thumbs.length);

    // 2. Three faces, 68 landmarks each, the names the database gives.
    check(await upload(page, SAMPLE1) === 'done', 'faceid_sample1.jpg is analysed');
    await page.waitForFunction(() => document.querySelectorAll('rect.face-box').length === 3);
    let drawn = await drawnFaces(page);
    check(drawn.length === 3, 'three boxes on faceid_sample1.jpg', drawn.length);
    for (const f of drawn) {
      check(f.landmarks === 68 && f.inside === 68 && f.lines === 9,
            'face ' + f.face + ': 68 landmarks within its box, drawn as 9 contours', f);
    }
    let rule = currentRule('at start-up');
    await compareNames(page, drawn, SAMPLE1, rule, 'faceid_sample1.jpg');
    await page.screenshot({ path: path.join(OUT, 'sample1.png'), fullPage: true });

    // 3. Enrol sample1's rightmost person from the page; the trigger encodes the crop.
    //    With the npm package's photos the demo enrolled sample1 itself: first remove,
    //    with the page's buttons, the rows that already match that face.
    const right = drawn.reduce((a, b) => (b.box[0] > a.box[0] ? b : a));
    const same = psql(`
      SELECT p.id, p.name FROM people p, face_embed_all(${bytea(SAMPLE1)}) f
      WHERE f.x = ${right.box[0]}::real AND f.y = ${right.box[1]}::real
        AND p.embedding <-> f.embedding <= current_setting('faceid.match_threshold')::float8;`).out
      .split('\n').filter(Boolean).map((l) => l.split('\t'));
    for (const [id, name] of same) {
      await page.click(`#people li[data-id="${id}"] button.remove`);
      await page.waitForFunction((i) => !document.querySelector(`#people li[data-id="${i}"]`)
                                        && document.getElementById('status').dataset.state === 'done', id);
      console.log('# removed the enrolled row ' + id + ' (' + name + '), the same person');
    }
    if (same.length) {
      rule = currentRule('after the removals');
      drawn = await drawnFaces(page);
      await compareNames(page, drawn, SAMPLE1, rule, 'faceid_sample1.jpg after the removals');
    }
    await page.selectOption('#enrol-face', right.face);
    await page.fill('#enrol-name', NEW_NAME);
    await page.click('#enrol-button');
    await page.waitForFunction((n) => [...document.querySelectorAll('#people li')].some((li) => {
      const img = li.querySelector('img');
      return li.dataset.name === n && img && img.complete && img.naturalWidth > 0;
    }), NEW_NAME);
    check(true, 'the enrolled face appears in the list with its thumbnail');
    await page.waitForFunction(() => document.getElementById('status').dataset.state === 'done'
                                     && document.getElementById('status').textContent.startsWith('faceid_sample1.jpg:'));
    const stored = psql(`
      SELECT count(*), bool_and(p.embedding IS NOT NULL), bool_and(substr(p.photo, 1, 4) = '\\x89504e47'::bytea),
             max(p.embedding <-> f.embedding)
      FROM people p, face_embed_all(${bytea(SAMPLE1)}) f
      WHERE p.name = '${NEW_NAME}' AND f.x = ${right.box[0]}::real AND f.y = ${right.box[1]}::real;`).out.split('\t');
    check(stored[0] === '1' && stored[1] === 't' && stored[2] === 't',
          'one row stored: a PNG crop that the trigger encoded', stored);
    check(Number(stored[3]) < 0.25, 'the crop encodes the chosen face (distance ' + stored[3] + ' to it)', stored);
    rule = currentRule('after the enrolment');
    drawn = await drawnFaces(page);
    await compareNames(page, drawn, SAMPLE1, rule, 'faceid_sample1.jpg after the enrolment');
    check(drawn.some((f) => f.name === NEW_NAME && f.face === right.face),
          'faceid_sample1.jpg again: the enrolled face is labelled "' + NEW_NAME + '"', drawn.map((f) => f.name));

    // 4. Recognised in a second photo.
    check(await upload(page, SAMPLE3) === 'done', 'faceid_sample3.jpg is analysed');
    await page.waitForFunction(() => document.querySelectorAll('rect.face-box').length === 3);
    drawn = await drawnFaces(page);
    check(drawn.some((f) => f.name === NEW_NAME), 'faceid_sample3.jpg: "' + NEW_NAME + '" is recognised',
          drawn.map((f) => f.name));
    await compareNames(page, drawn, SAMPLE3, rule, 'faceid_sample3.jpg');
    await page.screenshot({ path: path.join(OUT, 'sample3.png'), fullPage: true });

    // 5. Bad input shows the database's message; nothing breaks.
    const bad = [
      { name: 'corrupt.jpg', mimeType: 'image/jpeg', buffer: fs.readFileSync(SAMPLE1).subarray(0, 20000), sqlstate: '22P03' },
      { name: 'tiny.webp', mimeType: 'image/webp', sqlstate: '0A000',
        buffer: Buffer.from('524946462400000057454250565038201800000030010000d0010000', 'hex') },
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a photo at all\n'), sqlstate: '0A000' },
    ];
    for (const b of bad) {
      check(await upload(page, b) === 'error', b.name + ': the page reports an error');
      const shown = await page.$eval('#error', (e) => (e.hidden ? '' : e.textContent));
      const message = expectedError(b.buffer);
      check(shown.includes(message) && shown.includes('SQLSTATE ' + b.sqlstate),
            b.name + ': the page shows the database\'s message "' + message + '" (' + b.sqlstate + ')', shown);
      check(await page.$eval('#result', (e) => e.hidden), b.name + ': no stale boxes are left on the page');
      if (b.name === 'corrupt.jpg') await page.screenshot({ path: path.join(OUT, 'corrupt.png'), fullPage: true });
    }
    check(await upload(page, SAMPLE2) === 'done', 'after the errors, faceid_sample2.jpg is analysed');
    drawn = await drawnFaces(page);
    await compareNames(page, drawn, SAMPLE2, rule, 'faceid_sample2.jpg');
    check(await page.$eval('#error', (e) => e.hidden), 'the error is cleared by a good photo');

    // 6. What a page cannot send: the server's own limits.
    const tooBig = await rawRequest(demo.url + 'api/analyze', 'POST',
                                    { 'Content-Type': 'application/octet-stream', 'Content-Length': String(1 << 30) });
    check(tooBig.status === 413 && /at most/.test(tooBig.body), 'a 1 GiB body is refused before it is read (413)', tooBig);
    const form = await rawRequest(demo.url + 'api/enrol?name=x', 'POST',
                                  { 'Content-Type': 'application/x-www-form-urlencoded' }, 'a=b');
    check(form.status === 415, 'a form post (what another site could send) is refused (415)', form);
    const rebound = await rawRequest(demo.url + 'api/people', 'GET', { Host: 'attacker.example:' + PORT });
    check(rebound.status === 421, 'a foreign Host header is refused (421)', rebound.status);
    check(Number(psql('SELECT count(*) FROM people;').out) === enrolled - same.length + 1,
          'the rows: those of the demo, less the ' + same.length + ' removed, plus the one enrolled');

    // 7. Remove the enrolled face with the page's button: the list and the names follow.
    const ada = psql(`SELECT id FROM people WHERE name = '${NEW_NAME}';`).out;
    await upload(page, SAMPLE3);
    await page.click(`#people li[data-id="${ada}"] button.remove`);
    await page.waitForFunction((i) => !document.querySelector(`#people li[data-id="${i}"]`)
                                      && document.getElementById('status').dataset.state === 'done', ada);
    check(psql(`SELECT count(*) FROM people WHERE name = '${NEW_NAME}';`).out === '0', 'the remove button deletes the row');
    rule = currentRule('after the removal');
    drawn = await drawnFaces(page);
    check(!drawn.some((f) => f.name === NEW_NAME), 'faceid_sample3.jpg no longer shows "' + NEW_NAME + '"', drawn.map((f) => f.name));
    await compareNames(page, drawn, SAMPLE3, rule, 'faceid_sample3.jpg after the removal');

    await page.screenshot({ path: path.join(OUT, 'final.png'), fullPage: true });
    check(pageErrors.length === 0, 'no uncaught error in the page', pageErrors);
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
    const code = await stopDemo(demo);
    check(code === 0, 'the demo stops cleanly on Ctrl-C (SIGINT to its process group)', code);
  }
  console.log('# screenshots: ' + OUT);
  console.log(failures === 0 ? `# all ${checks} checks passed` : `# ${failures} of ${checks} checks FAILED`);
  return failures === 0 ? 0 : 1;
}

main().then((rc) => process.exit(rc), (e) => {
  console.log('not ok - ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
