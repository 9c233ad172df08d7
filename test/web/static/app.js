// The web demo's page: send a photo to the server (which asks faceid), draw what comes back.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
// The 68-point landmark contours (iBUG 300-W order): [first, last, closed].
const CONTOURS = [[0, 16, false], [17, 21, false], [22, 26, false], [27, 30, false], [31, 35, false],
                  [36, 41, true], [42, 47, true], [48, 59, true], [60, 67, true]];
const $ = (id) => document.getElementById(id);
const state = { file: null, faces: [], request: 0 };

// Set the status line and its machine-readable state (idle, busy, done, error).
function setStatus(text, kind) {
  $('status').textContent = text;
  $('status').dataset.state = kind;
}

// Show an error from the server (the database's message and SQLSTATE), or hide it.
function showError(err) {
  const box = $('error');
  if (!err) { box.hidden = true; box.textContent = ''; return; }
  let text = 'ERROR: ' + err.error;
  if (err.sqlstate) text += '  (SQLSTATE ' + err.sqlstate + ')';
  if (err.detail) text += '\nDETAIL: ' + err.detail;
  if (err.hint) text += '\nHINT: ' + err.hint;
  box.textContent = text;
  box.hidden = false;
}

// POST bytes to the server; resolve to its JSON, or throw its JSON error.
async function post(url, body) {
  let res;
  try {
    res = await fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
  } catch (e) {
    throw { error: 'the server did not answer: ' + e.message };
  }
  let doc;
  try { doc = await res.json(); } catch (e) { doc = { error: 'HTTP ' + res.status + ' ' + res.statusText }; }
  if (!res.ok) throw doc;
  return doc;
}

// Load the photo into the <img>; resolve to its size, or null when the browser cannot decode it.
function showPhoto(file) {
  const img = $('photo');
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(file);
  return img.decode().then(() => ({ w: img.naturalWidth, h: img.naturalHeight }), () => null);
}

// Send the chosen file to /api/analyze and draw the answer.
async function analyze(file) {
  const id = ++state.request;
  state.file = file;
  showError(null);
  setStatus('Asking the database about ' + file.name + ' …', 'busy');
  $('enrol-button').disabled = true;
  const [size, answer] = await Promise.all([
    showPhoto(file),
    file.arrayBuffer().then((buf) => post('/api/analyze', buf)).then((d) => ({ ok: d }), (e) => ({ err: e })),
  ]);
  if (id !== state.request) return;  // a newer photo was chosen meanwhile
  if (answer.err) {
    state.faces = [];
    $('result').hidden = true;
    showError(answer.err);
    setStatus(file.name + ': the database refused it.', 'error');
    return;
  }
  state.faces = answer.ok.faces;
  $('result').hidden = false;
  draw(size, state.faces);
  fillTable(state.faces);
  showRule(answer.ok.rule);
  const n = state.faces.length;
  setStatus(file.name + ': ' + (n === 0 ? 'no face found' : n === 1 ? '1 face' : n + ' faces') + '.', 'done');
  $('enrol-button').disabled = n === 0;
}

// Create an SVG element with attributes.
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// How a face is shown: 'known', 'unknown', or 'none' (no encoding or nobody enrolled).
function kindOf(face) {
  if (!face.who) return 'none';
  return face.who.accepted ? 'known' : 'unknown';
}

// Draw every face's box, landmarks and label over the photo.
function draw(size, faces) {
  const overlay = $('overlay');
  const labels = $('labels');
  overlay.replaceChildren();
  labels.replaceChildren();
  if (!size) {  // the browser could not decode what the database could: size from the boxes
    size = { w: 1, h: 1 };
    for (const f of faces) { size.w = Math.max(size.w, f.x + f.width); size.h = Math.max(size.h, f.y + f.height); }
  }
  overlay.setAttribute('viewBox', `0 0 ${size.w} ${size.h}`);
  const r = Math.max(size.w, size.h) / 600;
  for (const f of faces) {
    const kind = kindOf(f);
    const g = svg('g', { class: 'face', 'data-face': f.face });
    const box = svg('rect', { class: 'face-box ' + kind, x: f.x, y: f.y, width: f.width, height: f.height,
                              'vector-effect': 'non-scaling-stroke', 'data-face': f.face,
                              'data-name': f.who ? f.who.name : '' });
    box.addEventListener('click', () => selectFace(f.face));
    g.append(box);
    const pts = f.landmarks || [];
    for (const [a, b, closed] of CONTOURS) {
      if (pts.length < 68) break;
      const coords = pts.slice(a, b + 1).map((p) => p[0] + ',' + p[1]).join(' ');
      g.append(svg(closed ? 'polygon' : 'polyline', { class: 'landmark-line', points: coords,
                                                     'vector-effect': 'non-scaling-stroke' }));
    }
    for (const p of pts) g.append(svg('circle', { class: 'landmark', cx: p[0], cy: p[1], r }));
    overlay.append(g);
    labels.append(label(f, kind, size));
  }
  selectFace(faces.length ? faces[0].face : null);
}

// A false-accept probability as a percentage (below one in a million: a bound, not a tail's digits).
function rate(p) {
  if (p < 1e-6) return '< 0.0001%';
  return (p >= 0.001 ? (100 * p).toFixed(1) : (100 * p).toPrecision(2)) + '%';
}

// How the answer was decided: face_identify's false-accept rate, or the 1:1 threshold's fallback.
function how(who) {
  return who.rule === 'identify' ? 'false accept ' + rate(who.false_accept) : 'uncalibrated: 1:1 threshold';
}

// Say under the table which rule named the faces (null: no face was encoded).
function showRule(rule) {
  const el = $('rule');
  el.dataset.rule = rule || '';
  el.textContent = rule === 'identify'
    ? 'face_identify named them: accepted when false_accept ≤ faceid.false_accept_rate, ' +
      'from the gallery\'s own calibration.'
    : rule === 'threshold'
      ? 'uncalibrated: 1:1 threshold. Fewer than 10 people are enrolled, too few for ' +
        'face_identify_calibrate, so the nearest row within faceid.match_threshold names them.'
      : '';
}

// The HTML label under a face's box: the name, the distance, the probability and how it was decided.
function label(f, kind, size) {
  const el = document.createElement('div');
  el.className = 'face-label ' + kind;
  el.dataset.face = f.face;
  // under the box, kept inside the photo: boxes on the right half anchor the label's right edge
  if (f.x + f.width / 2 > size.w / 2) el.style.right = (100 * (size.w - f.x - f.width) / size.w) + '%';
  else el.style.left = (100 * f.x / size.w) + '%';
  el.style.top = (100 * (f.y + f.height) / size.h) + '%';
  const name = document.createElement('b');
  const small = document.createElement('small');
  if (!f.who) {
    name.textContent = f.encoded ? 'nobody enrolled' : 'no encoding';
  } else {
    name.textContent = f.who.name;
    small.textContent = (kind === 'unknown' ? 'nearest ' + f.who.nearest + ', ' : '') +
      'd ' + f.who.distance.toFixed(3) + ' · p ' + f.who.probability.toFixed(3) + ' · ' + how(f.who);
    el.dataset.rule = f.who.rule;
    if (f.who.false_accept !== null) el.dataset.falseAccept = String(f.who.false_accept);
  }
  el.append(name, small);
  return el;
}

// Fill the table of faces and the enrolment form's face choice.
function fillTable(faces) {
  const body = $('faces').tBodies[0];
  const choice = $('enrol-face');
  body.replaceChildren();
  choice.replaceChildren();
  for (const f of faces) {
    const tr = document.createElement('tr');
    tr.dataset.face = f.face;
    const cells = [f.face, f.who ? f.who.name : '—',
                   f.who ? f.who.distance.toFixed(3) : '', f.who ? f.who.probability.toFixed(3) : '',
                   !f.who ? '' : f.who.rule === 'identify' ? rate(f.who.false_accept) : 'uncalibrated: 1:1 threshold',
                   f.who ? f.who.nearest : '', f.score.toFixed(2)];
    cells.forEach((c, i) => {
      const td = document.createElement('td');
      td.textContent = c;
      if (i !== 1 && i !== 5 && !(i === 4 && f.who && f.who.rule !== 'identify')) td.className = 'num';
      tr.append(td);
    });
    tr.addEventListener('click', () => selectFace(f.face));
    body.append(tr);
    choice.append(new Option('face ' + f.face + (f.who ? ' (' + f.who.name + ')' : ''), f.face));
  }
}

// Mark one face as the one to enrol.
function selectFace(face) {
  if (face !== null) $('enrol-face').value = String(face);
  for (const el of document.querySelectorAll('.face-box, #faces tr')) {
    el.classList.toggle('selected', face !== null && el.dataset.face === String(face));
  }
}

// A PNG of the photo cropped around one face, with half the box's size as margin on each side.
async function cropFace(file, f) {
  const bitmap = await createImageBitmap(file);  // applies EXIF orientation, as faceid does
  const mx = f.width / 2;
  const my = f.height / 2;
  const x0 = Math.max(0, Math.floor(f.x - mx));
  const y0 = Math.max(0, Math.floor(f.y - my));
  const x1 = Math.min(bitmap.width, Math.ceil(f.x + f.width + mx));
  const y1 = Math.min(bitmap.height, Math.ceil(f.y + f.height + my));
  const canvas = document.createElement('canvas');
  canvas.width = x1 - x0;
  canvas.height = y1 - y0;
  canvas.getContext('2d').drawImage(bitmap, x0, y0, canvas.width, canvas.height, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
}

// Enrol the chosen face under the typed name, then refresh the list and the photo's names.
async function enrol(event) {
  event.preventDefault();
  const f = state.faces.find((x) => String(x.face) === $('enrol-face').value);
  const name = $('enrol-name').value.trim();
  if (!f || !state.file) return;
  if (!name) { showError({ error: 'type a name to enrol this face under' }); return; }
  showError(null);
  setStatus('Enrolling face ' + f.face + ' as ' + name + ' …', 'busy');
  $('enrol-button').disabled = true;
  try {
    const crop = await cropFace(state.file, f);
    await post('/api/enrol?name=' + encodeURIComponent(name), await crop.arrayBuffer());
  } catch (err) {
    showError(err.error ? err : { error: String(err) });
    setStatus('Enrolment failed.', 'error');
    $('enrol-button').disabled = false;
    return;
  }
  $('enrol-name').value = '';
  await loadPeople();
  await analyze(state.file);
}

// Remove an enrolled row, then refresh the list and the photo's names.
async function removePerson(p) {
  showError(null);
  setStatus('Removing ' + p.name + ' …', 'busy');
  let doc;
  try {
    const res = await fetch('/api/people/' + p.id, { method: 'DELETE' });
    doc = await res.json();
    if (!res.ok) throw doc;
  } catch (err) {
    showError(err.error ? err : { error: String(err) });
    setStatus('Removing ' + p.name + ' failed.', 'error');
    return;
  }
  await loadPeople();
  if (state.file && state.faces.length) await analyze(state.file);
  else setStatus('Removed ' + p.name + '.', 'done');
}

// Fetch the enrolled rows and show them with their photos as thumbnails.
async function loadPeople() {
  const list = $('people');
  let doc;
  try {
    const res = await fetch('/api/people');
    doc = await res.json();
    if (!res.ok) throw doc;
  } catch (err) {
    showError(err.error ? err : { error: 'cannot list the enrolled people: ' + err });
    return;
  }
  list.replaceChildren();
  for (const p of doc.people) {
    const li = document.createElement('li');
    li.dataset.id = p.id;
    li.dataset.name = p.name;
    let pic;
    if (p.has_photo) {
      pic = document.createElement('img');
      pic.src = '/api/people/' + p.id + '/photo';
      pic.alt = p.name;
      pic.loading = 'lazy';
    } else {
      pic = document.createElement('div');
      pic.className = 'no-photo';
      pic.textContent = 'encoding only (a face of a group photo)';
    }
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = p.name;
    const remove = document.createElement('button');
    remove.className = 'remove';
    remove.type = 'button';
    remove.title = 'remove this row from the table';
    remove.textContent = '×';
    remove.addEventListener('click', () => removePerson(p));
    li.append(pic, name, remove);
    if (!p.has_face) {
      const warn = document.createElement('small');
      warn.className = 'warn';
      warn.textContent = 'no face found';
      li.append(warn);
    }
    list.append(li);
  }
  $('people-count').textContent = '(' + doc.people.length + ')';
}

// Wire the file input, drag and drop, and the enrolment form.
function init() {
  const drop = $('drop');
  $('file').addEventListener('change', (e) => { if (e.target.files[0]) analyze(e.target.files[0]); });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer.files[0]) analyze(e.dataTransfer.files[0]);
  });
  $('enrol').addEventListener('submit', enrol);
  $('enrol-face').addEventListener('change', (e) => selectFace(Number(e.target.value)));
  loadPeople();
}

init();
