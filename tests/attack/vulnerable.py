#!/usr/bin/env python3
"""Deliberately vulnerable control server for the attack suite (tests/attack/run.sh).

NEVER deploy this. It exists so that every attack tool proves, on this machine, that it can
find what it is looking for: if sqlmap does not flag these endpoints, or slowloris does not
take this server down, the tools (not gatehouse) are broken and the run fails.

- SQL injection: every input is pasted into SQL text (sqlite3, in memory), in each of the
  injection-point kinds the gatehouse targets use: JSON body, form body, query string, URI
  path segment, a header (Authorization: Bearer <value>) and a cookie (session=<value>).
- Slow HTTP (--single-thread): a single-threaded http.server without socket timeouts, so one
  slow client blocks every other one. (The default is threaded, so that sqlmap's pre-opened
  connections do not stall the SQL-injection control.)

Usage: vulnerable.py PORT [--single-thread]
(binds 127.0.0.1 only; prints "listening PORT" once ready)
"""
import http.server
import json
import sqlite3
import sys
import threading
import urllib.parse

_local = threading.local()


def db():
    """One in-memory database per thread, so that one client's heavy (time-based) query does
    not stall the others."""
    if not hasattr(_local, "db"):
        _local.db = sqlite3.connect(":memory:")
        _local.db.executescript(
            """
            CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, secret TEXT);
            INSERT INTO users (name, secret) VALUES ('alice', 's3cret-a'), ('bob', 's3cret-b'),
                                                    ('carol', 's3cret-c');
            """
        )
    return _local.db


def lookup(name):
    """The bug on purpose: string-built SQL. Errors are leaked, as sloppy apps do."""
    try:
        sql = "SELECT id, name FROM users WHERE name = '" + name + "'"  # noqa: S608 (control)
        rows = db().execute(sql).fetchall()
    except sqlite3.Error as exc:
        return 500, {"error": "sqlite3.OperationalError: " + str(exc)}
    if not rows:
        return 404, {"error": "no such user"}
    return 200, {"users": [{"id": r[0], "name": r[1]} for r in rows]}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server_version = "vulnerable-control"

    def log_message(self, fmt, *args):  # quiet: sqlmap sends thousands of requests
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            return self.reply(200, {"status": "ok"})
        if url.path == "/search":
            q = urllib.parse.parse_qs(url.query)
            return self.reply(*lookup(q.get("name", [""])[0]))
        if url.path.startswith("/items/"):
            return self.reply(*lookup(urllib.parse.unquote(url.path[len("/items/"):])))
        if url.path == "/me":
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                return self.reply(*lookup(auth[len("Bearer "):]))
            for part in self.headers.get("Cookie", "").split(";"):
                k, _, v = part.strip().partition("=")
                if k == "session":
                    return self.reply(*lookup(urllib.parse.unquote(v)))
            return self.reply(401, {"error": "no token"})
        return self.reply(404, {"error": "not found"})

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode("utf-8", "replace") if n > 0 else ""
        if url.path != "/search":
            return self.reply(404, {"error": "not found"})
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("application/json"):
            try:
                name = json.loads(raw).get("name", "")
            except (ValueError, AttributeError):
                return self.reply(400, {"error": "bad json"})
        else:
            name = urllib.parse.parse_qs(raw).get("name", [""])[0]
        if not isinstance(name, str):
            return self.reply(422, {"error": "name must be a string"})
        return self.reply(*lookup(name))


def main():
    port = int(sys.argv[1])
    if "--single-thread" in sys.argv[2:]:
        # On purpose: no ThreadingMixIn, no timeout -- the slowloris control.
        srv = http.server.HTTPServer(("127.0.0.1", port), Handler)
    else:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        srv.daemon_threads = True
    print("listening", port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
