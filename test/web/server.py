#!/usr/bin/python3
"""The web demo's server: a page that shows what faceid sees.

    /usr/bin/python3 test/web/server.py [--port 8434]

Python's standard library plus Debian's psycopg 3, nothing else.  It binds
127.0.0.1 only and connects with the libpq environment (PGHOST, PGPORT, ...;
test/demo.sh --web runs it inside pg_virtualenv, after enrolling the sample
people into the table `people (id, name, file, photo, embedding)` with the
encoding trigger).  The server holds no model and no state: each request
opens its own connection, every photo goes through faceid's SQL functions,
and everything lives in the database.  Who a face is comes from
face_identify on the gallery `people` labelled by `name`, which the server
calibrates at start-up and after every enrolment and removal (in the same
transaction); a gallery of fewer than 10 people cannot be calibrated, and
then the nearest row within faceid.match_threshold answers instead.

    GET  /                      the page (static/index.html, app.js, style.css)
    POST /api/analyze           body: the photo's bytes; every face's box, its
                                68 landmarks and who it is (JSON)
    POST /api/enrol?name=N      body: a photo of one person (the page sends the
                                chosen face's crop); INSERT, the trigger encodes
    GET  /api/people            the enrolled rows (JSON)
    GET  /api/people/ID/photo   one enrolled photo (a thumbnail)
    DELETE /api/people/ID       remove one enrolled row

Errors come back as JSON {"error", "sqlstate", ...} carrying the database's
own message.  POST bodies must be application/octet-stream (a cross-site
form cannot send that without a CORS preflight, which this server never
grants) and at most --max-bytes long.
"""
import argparse
import json
import os
import re
import signal
import sys
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
PAGES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_NAME = 100


class ApiError(Exception):
    """An error the page shows as it is (bad request, not the database's)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


# --- the database side: every query the page needs ---------------------------

# The gallery is the table `people` labelled by `name` (several rows may share
# a name: several photos of one person; an id per row would make each photo a
# person of its own, the next-nearest "different person" of its twin).

# Who is the face whose encoding is `probe`?  face_identify answers 1:K at
# faceid.false_accept_rate from the gallery's own calibration (a 1:1
# threshold reused for 1:K accepts more strangers the more people are
# enrolled); face_verify gives the probability of "same person" against that
# person's nearest row.  The page shows false_accept beside the distance.
IDENTIFY_SQL = """
SELECT r.label, r.distance, face_verify(n.embedding, q.probe) AS probability,
       r.accepted, r.false_accept
FROM (SELECT %s::faceembedding AS probe) q
CROSS JOIN LATERAL face_identify(q.probe, 'people', 'name') r
CROSS JOIN LATERAL (SELECT embedding FROM people
                    WHERE name = r.label AND embedding IS NOT NULL
                    ORDER BY embedding <-> q.probe LIMIT 1) n
"""

# The fallback for a gallery too small to calibrate (fewer than 10 people,
# e.g. only the npm package's sample photos): the nearest row, accepted
# within the 1:1 threshold faceid.match_threshold.  The page says so.
NEAREST_SQL = """
SELECT p.name, p.embedding <-> q.probe AS distance,
       face_verify(p.embedding, q.probe) AS probability,
       p.embedding <-> q.probe <= current_setting('faceid.match_threshold')::float8 AS accepted,
       NULL::float8 AS false_accept
FROM (SELECT %s::faceembedding AS probe) q
CROSS JOIN LATERAL (SELECT name, embedding FROM people
                    WHERE embedding IS NOT NULL
                    ORDER BY embedding <-> q.probe LIMIT 1) p
"""

# face_identify_calibrate refuses galleries of fewer people (SQLSTATE 55000).
MIN_LABELS = 10


# Which rule answers now: "identify" when the gallery has enough people to
# calibrate (the server recalibrates it after every change), else "threshold".
# Counted in the caller's snapshot: a calibration left from before the gallery
# shrank below MIN_LABELS is not used.
def who_rule(cur):
    cur.execute("SELECT count(DISTINCT name) FROM people WHERE embedding IS NOT NULL")
    return "identify" if cur.fetchone()[0] >= MIN_LABELS else "threshold"


# The best enrolled person for one encoding (text form) under `rule`, or None when nobody is enrolled.
def who_is(cur, probe, rule):
    cur.execute(IDENTIFY_SQL if rule == "identify" else NEAREST_SQL, (probe,))
    row = cur.fetchone()
    if row is None:
        return None
    name, distance, probability, accepted, false_accept = row
    return {"nearest": name, "distance": distance, "probability": probability,
            "accepted": accepted, "false_accept": false_accept, "rule": rule,
            "name": name if accepted else "unknown"}


# Calibrate the gallery for face_identify (inside the caller's transaction,
# after the rows changed); the number of people calibrated, or None when the
# gallery is too small to calibrate (55000), which leaves the transaction usable.
def calibrate(conn):
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT labels FROM face_identify_calibrate('people', 'name')")
            return cur.fetchone()[0]
    except psycopg.errors.ObjectNotInPrerequisiteState:
        return None


# Serialise the writers of the gallery (readers are not blocked), so each
# writer's calibration sees the rows every earlier writer committed.
def lock_gallery(cur):
    cur.execute("LOCK TABLE people IN SHARE ROW EXCLUSIVE MODE")


# Intersection over union of two (x, y, width, height) boxes.
def iou(a, b):
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


# Pair each detected face with the encoded face of the same box (IoU >= 0.5).
def match_by_box(detected, encoded):
    pairs = {}
    free = list(encoded)
    for d in detected:
        best = max(free, key=lambda e: iou(d["box"], e["box"]), default=None)
        if best is not None and iou(d["box"], best["box"]) >= 0.5:
            pairs[d["face"]] = best
            free.remove(best)
    return pairs


# Every face of a photo: box, 68 landmarks (face_detect), encoding (face_embed_all), who it is.
# One read-only snapshot, so every face is named against the same gallery.
def analyze(conn, photo):
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("""SELECT face, x, y, width, height, score,
                              array(SELECT array[p[0], p[1]] FROM unnest(landmarks) WITH ORDINALITY l(p, i) ORDER BY i)
                       FROM face_detect(%s) ORDER BY face""", (photo,))
        detected = [{"face": r[0], "box": r[1:5], "score": r[5], "landmarks": r[6]}
                    for r in cur.fetchall()]
        cur.execute("""SELECT face, x, y, width, height, embedding::text
                       FROM face_embed_all(%s) ORDER BY face""", (photo,))
        encoded = [{"face": r[0], "box": r[1:5], "embedding": r[5]} for r in cur.fetchall()]
        pairs = match_by_box(detected, encoded)
        rule = who_rule(cur) if any(e["embedding"] for e in encoded) else None
        faces = []
        for d in detected:
            e = pairs.get(d["face"])
            who = who_is(cur, e["embedding"], rule) if e and e["embedding"] else None
            x, y, w, h = d["box"]
            faces.append({"face": d["face"], "x": x, "y": y, "width": w, "height": h,
                          "score": d["score"], "landmarks": d["landmarks"],
                          "encoded": e is not None and e["embedding"] is not None,
                          "who": who})
    return {"faces": faces, "rule": rule}


# Enrol one photo under a name: the trigger encodes it; a photo without a face is refused.
# The gallery is recalibrated in the same transaction.
def enrol(conn, name, photo):
    with conn.transaction(), conn.cursor() as cur:
        lock_gallery(cur)
        cur.execute("""INSERT INTO people (name, file, photo) VALUES (%s, 'web page', %s)
                       RETURNING id, embedding IS NOT NULL""", (name, photo))
        pid, has_face = cur.fetchone()
        if not has_face:
            # leave the transaction by an exception, so the row is not kept
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY,
                           "faceid found no face in the photo sent for enrolment; nothing was stored")
        calibrated = calibrate(conn)
    return {"id": pid, "name": name, "calibrated_labels": calibrated}


# The enrolled rows, oldest first.
def people(conn):
    with conn.cursor() as cur:
        cur.execute("""SELECT id, name, file, photo IS NOT NULL, embedding IS NOT NULL
                       FROM people ORDER BY id""")
        return {"people": [{"id": r[0], "name": r[1], "file": r[2], "has_photo": r[3],
                            "has_face": r[4]} for r in cur.fetchall()]}


# Remove one enrolled row and recalibrate the gallery in the same transaction; False when there was none.
def remove_person(conn, pid):
    with conn.transaction(), conn.cursor() as cur:
        lock_gallery(cur)
        cur.execute("DELETE FROM people WHERE id = %s", (pid,))
        if cur.rowcount != 1:
            return False
        calibrate(conn)
        return True


# One enrolled photo's bytes, or None.
def person_photo(conn, pid):
    with conn.cursor() as cur:
        cur.execute("SELECT photo FROM people WHERE id = %s", (pid,))
        row = cur.fetchone()
        return bytes(row[0]) if row and row[0] is not None else None


# The MIME type of JPEG or PNG bytes (the only formats faceid reads).
def image_type(data):
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG"):
        return "image/png"
    return "application/octet-stream"


# A new connection (autocommit, bounded by statement_timeout).
def connect(timeout_s):
    return psycopg.connect(autocommit=True, application_name="faceid web demo",
                           options="-c statement_timeout=%d" % (timeout_s * 1000))


# Calibrate the gallery once at start-up (rows may have been enrolled without
# this server, as test/demo.sh --web does); say which rule will answer.
def calibrate_at_start(timeout_s):
    try:
        with connect(timeout_s) as conn, conn.transaction(), conn.cursor() as cur:
            lock_gallery(cur)
            labels = calibrate(conn)
    except psycopg.Error as e:
        print("faceid web demo: could not calibrate the gallery: %s" % (e.diag.message_primary or e),
              file=sys.stderr, flush=True)
        return
    if labels is None:
        print("faceid web demo: fewer than %d people enrolled: uncalibrated, the 1:1 threshold "
              "(faceid.match_threshold) decides until there are more" % MIN_LABELS, flush=True)
    else:
        print("faceid web demo: gallery calibrated for face_identify (%d people)" % labels, flush=True)


# --- HTTP --------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    """One request: route it, open a connection, answer JSON or bytes."""

    server_version = "faceid-web"
    protocol_version = "HTTP/1.1"
    timeout = 120  # seconds a socket may stay silent (idle keep-alive, a stalled upload)

    # GET: the page, the people list, an enrolled photo.
    def do_GET(self):
        self.dispatch(self.route_get)

    # POST: analyse or enrol a photo.
    def do_POST(self):
        self.dispatch(self.route_post)

    # DELETE: remove an enrolled row (a method no cross-site form can send).
    def do_DELETE(self):
        self.dispatch(self.route_delete)

    # Run a route; turn its errors (the database's included) into JSON answers.
    def dispatch(self, route):
        try:
            self.check_host()
            route(urllib.parse.urlsplit(self.path))
        except ApiError as e:
            self.send_json(e.status, {"error": str(e)})
        except psycopg.Error as e:
            diag = e.diag
            self.send_json(HTTPStatus.UNPROCESSABLE_ENTITY if diag.sqlstate else HTTPStatus.SERVICE_UNAVAILABLE,
                           {"error": diag.message_primary or str(e).strip(),
                            "sqlstate": diag.sqlstate, "detail": diag.message_detail,
                            "hint": diag.message_hint})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug here must not stop the server
            self.log_error("internal error: %r", e)
            self.send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal server error: %s" % e})

    # Refuse Host names other than the loopback ones (DNS rebinding).
    def check_host(self):
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost"):
            self.close_connection = True
            raise ApiError(HTTPStatus.MISDIRECTED_REQUEST, "this server answers only 127.0.0.1 and localhost")

    # The GET routes.
    def route_get(self, url):
        if url.path in PAGES:
            name, ctype = PAGES[url.path]
            with open(os.path.join(STATIC, name), "rb") as f:
                self.send_bytes(HTTPStatus.OK, f.read(), ctype)
            return
        if url.path == "/favicon.ico":
            self.send_bytes(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
            return
        if url.path == "/api/people":
            with self.connect() as conn:
                self.send_json(HTTPStatus.OK, people(conn))
            return
        m = re.fullmatch(r"/api/people/([0-9]{1,9})/photo", url.path)
        if m:
            with self.connect() as conn:
                data = person_photo(conn, int(m.group(1)))
            if data is None:
                raise ApiError(HTTPStatus.NOT_FOUND, "no photo for this row")
            self.send_bytes(HTTPStatus.OK, data, image_type(data))
            return
        raise ApiError(HTTPStatus.NOT_FOUND, "not found: %s" % url.path)

    # The DELETE route.
    def route_delete(self, url):
        m = re.fullmatch(r"/api/people/([0-9]{1,9})", url.path)
        if not m:
            raise ApiError(HTTPStatus.NOT_FOUND, "not found: %s" % url.path)
        with self.connect() as conn:
            if not remove_person(conn, int(m.group(1))):
                raise ApiError(HTTPStatus.NOT_FOUND, "no enrolled row %s" % m.group(1))
        self.send_json(HTTPStatus.OK, {"removed": int(m.group(1))})

    # The POST routes.
    def route_post(self, url):
        if url.path not in ("/api/analyze", "/api/enrol"):
            self.close_connection = True
            raise ApiError(HTTPStatus.NOT_FOUND, "not found: %s" % url.path)
        name = None
        if url.path == "/api/enrol":
            name = self.enrol_name(url)
        photo = self.read_body()
        with self.connect() as conn:
            if url.path == "/api/analyze":
                self.send_json(HTTPStatus.OK, analyze(conn, photo))
            else:
                self.send_json(HTTPStatus.OK, enrol(conn, name, photo))

    # The enrolment's name from ?name=: trimmed, 1 to MAX_NAME characters.
    def enrol_name(self, url):
        names = urllib.parse.parse_qs(url.query).get("name", [])
        name = names[0].strip() if len(names) == 1 else ""
        if not name or len(name) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
            self.close_connection = True
            raise ApiError(HTTPStatus.BAD_REQUEST,
                           "type a name of 1 to %d characters, without control characters" % MAX_NAME)
        return name

    # The request body: application/octet-stream, with a length, within the limit.
    def read_body(self):
        self.close_connection = True  # until the body has been read
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/octet-stream":
            raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the photo as application/octet-stream")
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length, not a chunked body")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required")
        if length < 0:
            raise ApiError(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        if length > self.server.max_bytes:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                           "the photo is %d bytes; this server takes at most %d"
                           % (length, self.server.max_bytes))
        if length == 0:
            raise ApiError(HTTPStatus.BAD_REQUEST, "the request has no photo")
        data = self.rfile.read(length)
        if len(data) != length:
            raise ApiError(HTTPStatus.BAD_REQUEST, "the photo was cut short")
        self.close_connection = False
        return data

    # A new connection for this request.
    def connect(self):
        return connect(self.server.timeout_s)

    # Send bytes with the security headers.
    def send_bytes(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in SECURITY_HEADERS.items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    # Send a JSON document.
    def send_json(self, status, doc):
        self.send_bytes(status, json.dumps(doc).encode(), "application/json")

    # One line per request on stderr, as http.server does, without the client address.
    def log_message(self, fmt, *args):
        sys.stderr.write("web: %s\n" % (fmt % args))


# Parse the options, bind 127.0.0.1 and serve until interrupted.
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=int(os.environ.get("FACEID_WEB_PORT", "8434")))
    ap.add_argument("--max-bytes", type=int, default=20 * 1024 * 1024,
                    help="largest photo accepted (default 20 MiB)")
    ap.add_argument("--timeout", type=int, default=120,
                    help="statement_timeout of each query, in seconds (default 120)")
    ap.add_argument("--quiet", action="store_true", help="do not log each request")
    args = ap.parse_args()
    if args.quiet:
        Handler.log_message = lambda *a: None
    # Ctrl-C and SIGTERM end the server cleanly (exit 0), even when started
    # with SIGINT ignored (a background job of a script)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = None
    try:
        server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
        server.daemon_threads = True
        server.max_bytes = args.max_bytes
        server.timeout_s = args.timeout
        calibrate_at_start(args.timeout)
        print("faceid web demo: http://127.0.0.1:%d/  (Ctrl-C stops it)" % server.server_address[1], flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nfaceid web demo: stopped", flush=True)
    except OSError as e:
        sys.exit("faceid web demo: cannot listen on 127.0.0.1:%d: %s (choose another port with "
                 "FACEID_WEB_PORT or --port)" % (args.port, e.strerror or e))
    finally:
        if server is not None:
            server.server_close()


if __name__ == "__main__":
    main()
