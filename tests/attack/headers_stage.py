#!/usr/bin/env python3
"""Header and log injection: CR/LF (raw, bare and percent-encoded) and JSON-breaking text in
every value that could reach a response header or a log line.

Usage: headers_stage.py GATEHOUSE_URL OUTDIR   → OUTDIR/headers.md, exit 1 on any failure.
Sent over raw sockets (curl and http.client refuse CR/LF in header values). For each request:
no response header named like the injected one, no header line holding a stray CR or LF, no
header value echoing the marker, X-Request-Id always the server's own. The server log is
checked line by line afterwards by log_check.py (one JSON object per line, no forged keys).
"""
import json
import re
import sys
import urllib.parse

from attacklib import Results, Target, header_value, load_fixtures

MARK = "X-Injected"
MARK_LC = MARK.lower().encode()
RID_RE = re.compile(r"\A[A-Za-z0-9_-]{22}\Z")
ORIGIN = "http://app.example.test"  # run.sh sets GATEHOUSE_CORS_ORIGINS to this
# Text that would forge a field or a whole line in a log that is not escaped properly.
JSON_BREAK = '","level":"error","msg":"forged","forged":"1'


def request(method, target, headers, body=b""):
    if isinstance(target, str):
        target = target.encode()
    out = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    for h in headers:
        out.append(h if isinstance(h, bytes) else h.encode())
    if body or method in ("POST", "PUT"):
        out.append(b"Content-Length: " + str(len(body)).encode())
    out.append(b"Connection: close")
    return b"\r\n".join(out) + b"\r\n\r\n" + body


def inspect(data):
    """→ (status, problems) for one raw response."""
    head, sep, _ = data.partition(b"\r\n\r\n")
    if not sep:
        return None, ["no complete response"] if data else []
    lines = head.split(b"\r\n")
    problems = []
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", lines[0])
    status = int(m.group(1)) if m else None
    names = []
    for line in lines[1:]:
        if b"\r" in line or b"\n" in line:
            problems.append(f"stray CR/LF in header line {line[:60]!r}")
        name, colon, value = line.partition(b":")
        if not colon:
            problems.append(f"header line without a colon {line[:60]!r}")
            continue
        names.append(name.strip().lower())
        if name.strip().lower().startswith(b"x-injected"):
            problems.append(f"INJECTED HEADER {line[:80]!r}")
        elif b"injected" in value.lower() or b"forged" in value.lower():
            problems.append(f"marker echoed in {line[:80]!r}")
    rid = [ln for ln in lines[1:] if ln.lower().startswith(b"x-request-id:")]
    if len(rid) != 1:
        problems.append(f"{len(rid)} X-Request-Id headers")
    elif not RID_RE.match(rid[0].split(b":", 1)[1].strip().decode("latin-1")):
        problems.append(f"X-Request-Id not the server's own: {rid[0][:60]!r}")
    return status, problems


def main():
    base, outdir = sys.argv[1], sys.argv[2]
    t = Target(base)
    fx = load_fixtures(outdir)
    at = fx["main"]["access_token"]
    r = Results("Header and log injection",
                "Raw-socket requests with CR/LF in header values (bare CR, bare LF — which "
                "libmicrohttpd treats as a line end, so the injected line arrives as a header of "
                "its own — and %0d%0a), in the path and query, and in JSON and form fields, plus "
                f"JSON-breaking text `{JSON_BREAK}`. Verdict per request: no `{MARK}` response "
                "header, no stray CR/LF inside the response head, no header echoing the marker, "
                "exactly one server-generated `X-Request-Id`.",
                key="headers")

    crlf_variants = [
        ("bare CR", f"abc\r{MARK}: 1"),
        ("bare LF", f"abc\n{MARK}: 1"),
        ("%0d%0a", f"abc%0d%0a{MARK}:%201"),
        ("JSON breaker", "abc" + JSON_BREAK),
        ("\\u000a text", "abc\\u000a" + MARK + ": 1"),
    ]

    cases = []

    def add(name, method, target, headers, body=b"", expect=None):
        cases.append((name, method, target, headers, body, expect))

    bearer = f"Authorization: Bearer {at}"
    for label, v in crlf_variants:
        add(f"X-Request-Id ({label})", "GET", "/healthz", [f"X-Request-Id: {v}"], expect={200})
        add(f"User-Agent ({label}) on a login", "POST", "/v1/token",
            [f"User-Agent: {v}", "Content-Type: application/json"],
            json.dumps({"email": fx["main"]["email"], "password": "wrong"}).encode(),
            expect={401})
        add(f"X-Forwarded-For ({label}), untrusted peer", "GET", "/v1/me",
            [bearer, f"X-Forwarded-For: 10.0.0.1{v}"], expect={200})
        add(f"X-Forwarded-Proto ({label})", "GET", "/v1/me",
            [bearer, f"X-Forwarded-Proto: https{v}"], expect={200})
        add(f"X-Real-IP ({label})", "GET", "/healthz", [f"X-Real-IP: {v}"], expect={200})
        add(f"Origin = allowed origin + ({label}), preflight", "OPTIONS", "/v1/token",
            [f"Origin: {ORIGIN}{v}", "Access-Control-Request-Method: POST"],
            expect={403, 404, 405})
        add(f"Origin = allowed origin + ({label}), GET", "GET", "/v1/me",
            [bearer, f"Origin: {ORIGIN}{v}"], expect={200, 403})
        add(f"Authorization ({label})", "GET", "/v1/me", [f"Authorization: Bearer {v}"],
            expect={401})
        add(f"Cookie gh_session ({label})", "GET", "/v1/me", [f"Cookie: gh_session={v}"],
            expect={401})
        add(f"X-CSRF-Token ({label}) on sign-in", "POST", "/v1/session",
            [f"X-CSRF-Token: {v}", "Content-Type: application/json"],
            json.dumps({"email": fx["main"]["email"], "password": fx["password"]}).encode(),
            expect={200, 403})
        add(f"X-Forwarded-Host ({label})", "GET", "/healthz", [f"X-Forwarded-Host: {v}"],
            expect={200})
        add(f"Content-Type ({label})", "POST", "/v1/users",
            [f"Content-Type: application/json{v}"], b"{}", expect={400, 415, 422})
        add(f"Referer ({label})", "GET", "/healthz", [f"Referer: http://x/{v}"], expect={200})
        add(f"Cookie gh_device ({label}) on a valid login", "POST", "/v1/token",
            [f"Cookie: gh_device={v}", "Content-Type: application/json"],
            json.dumps({"email": fx["probe"]["email"], "password": fx["password"]}).encode(),
            expect={200})
    # Header-splitting through the allowed origin itself: the reflected value must be exact.
    add("Origin allowed (control: reflected exactly)", "OPTIONS", "/v1/token",
        [f"Origin: {ORIGIN}", "Access-Control-Request-Method: POST"], expect={204})
    # Path and query (percent-decoded by the server before routing and logging).
    for p in (f"/v1/users%0d%0a{MARK}:%201", f"/v1/%0a{MARK}:%201", f"/v1/%0d{MARK}",
              "/v1/" + urllib.parse.quote(JSON_BREAK), f"/signin?next=%0d%0a{MARK}:%201",
              f"/signin?next=/%0d%0a{MARK}:%201", "/signin?next=//evil.example/",
              f"/.well-known/jwks.json?x=%0d%0a{MARK}:%201",
              f"/v1/me/sessions/abc%0d%0a{MARK}:%201"):
        add(f"path/query {p}", "DELETE" if "sessions" in p else "GET", p,
            [bearer] if "sessions" in p else [], expect={200, 401, 404, 405})
    # Bytes that are not UTF-8 in the path (the request log line must keep its fields: checked
    # in log_check.py).
    for p in (b"/v1/%ff%fe", b"/v1/\xff\xfe", b"/v1/%c0%af", b"/v1/\xed\xa0\x80"):
        add(f"non-UTF-8 path {p!r}", "GET", p, [], expect={400, 404})
    # JSON and form fields that reach logs or responses.
    for field, value in (("email", f"a\r\n{MARK}: 1@example.com"),
                         ("email", "a" + JSON_BREAK + "@example.com"),
                         ("display_name", f"Ada\r\n{MARK}: 1"),
                         ("password", f"pw\r\n{MARK}: 1 correct horse")):
        body = {"email": "hi@example.com", "password": "correct horse battery staple x"}
        body[field] = value
        add(f"JSON {field} with CR/LF or a JSON breaker (register)", "POST", "/v1/users",
            ["Content-Type: application/json"], json.dumps(body).encode(),
            expect={201, 409, 422})
    add("JSON email with CR/LF (login)", "POST", "/v1/token", ["Content-Type: application/json"],
        json.dumps({"email": f"a\r\n{MARK}: 1@example.com", "password": "x"}).encode(),
        expect={401})
    add("form username with %0d%0a (login)", "POST", "/v1/token",
        ["Content-Type: application/x-www-form-urlencoded"],
        f"grant_type=password&username=a%0d%0a{MARK}:%201&password=x".encode(), expect={400})
    add("form refresh_token with %0d%0a", "POST", "/v1/token",
        ["Content-Type: application/x-www-form-urlencoded"],
        f"grant_type=refresh_token&refresh_token=a%0d%0a{MARK}:%201".encode(), expect={400})

    for name, method, target, headers, body, expect in cases:
        try:
            data, err = t.raw(request(method, target, headers, body), timeout=5)
        except OSError as e:
            data, err = b"", str(e)
        status, problems = inspect(data)
        if status is None and not data:
            # A refused (closed) connection is a fine answer to a malformed request.
            ok = True
            got = f"connection closed ({err})" if err else "connection closed"
        else:
            status_ok = expect is None or status in expect
            ok = not problems and status_ok
            got = f"{status}" + ("" if not problems else ": " + "; ".join(problems))
            if not status_ok:
                got += f" (status not in {sorted(expect)})"
        r.add(name, "no injected header, no stray CR/LF", got, ok)

    # CORS control: the allowed origin is reflected exactly (proves the reflecting code ran).
    st, hdrs, _ = t.request("OPTIONS", "/v1/token", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    acao = header_value(hdrs, "Access-Control-Allow-Origin")
    r.add("CORS control: allowed origin reflected verbatim", ORIGIN, acao, acao == ORIGIN)
    r.add("server answers /healthz afterwards", "200", t.healthy(), t.healthy())
    return r.write(outdir, "headers")


if __name__ == "__main__":
    sys.exit(main())
