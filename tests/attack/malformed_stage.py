#!/usr/bin/env python3
"""Oversize and malformed requests, sent as raw bytes.

Usage: malformed_stage.py GATEHOUSE_URL OUTDIR   → OUTDIR/malformed.md, exit 1 on any failure.

Application-level errors must carry the status docs/api.md ("Errors") gives them, as
problem+json. Requests that libmicrohttpd refuses before gatehouse sees them (oversize request
line or headers, broken framing) may be answered with 400/413/414/431 or a closed connection;
never a 2xx, a 5xx or a hang. After every case the server must still answer /healthz.
"""
import json
import socket
import sys
import time

from attacklib import Results, Target, header_value, load_fixtures, parse_response

PROBLEM = "application/problem+json"
REFUSED = {400, 413, 414, 431, "closed"}  # what the HTTP layer may do with garbage framing


def build(method, path, headers=(), body=b"", version="HTTP/1.1", host=True, cl=True):
    lines = [f"{method} {path} {version}".encode()]
    if host:
        lines.append(b"Host: 127.0.0.1")
    for h in headers:
        lines.append(h if isinstance(h, bytes) else h.encode())
    if cl and body is not None and not any(
            (h if isinstance(h, bytes) else h.encode()).lower().startswith(
                (b"content-length:", b"transfer-encoding:")) for h in headers):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def json_post(path, body, ctype="application/json", extra=()):
    if isinstance(body, str):
        body = body.encode()
    return build("POST", path, [f"Content-Type: {ctype}", *extra], body)


class Stage:
    def __init__(self, t, r):
        self.t = t
        self.r = r

    def send(self, payload, timeout=10, shut=False):
        t0 = time.monotonic()
        try:
            data, err = self.t.raw(payload, timeout=timeout, shut_write=shut)
        except OSError as e:
            return "closed", [], b"", time.monotonic() - t0, str(e)
        dt = time.monotonic() - t0
        if not data:
            return ("closed" if err != "timeout" else "hang"), [], b"", dt, err
        st, hdrs, body = parse_response(data)
        return st, hdrs, body, dt, err

    def check(self, name, payload, expected, problem_type=None, timeout=10, advisory=False,
              shut=False):
        """expected: an int, or a set of acceptable statuses (may include 'closed')."""
        st, hdrs, body, dt, err = self.send(payload, timeout, shut)
        exp = expected if isinstance(expected, set) else {expected}
        ok = st in exp
        got = f"{st}"
        if isinstance(st, int):
            ctype = header_value(hdrs, "Content-Type") or ""
            if problem_type and ok:
                try:
                    ptype = json.loads(body).get("type", "")
                except (ValueError, AttributeError):
                    ptype = "<not json>"
                if not ctype.startswith(PROBLEM):
                    ok = False
                    got += f" (Content-Type {ctype!r})"
                if not ptype.endswith(":" + problem_type):
                    ok = False
                got += f" {ptype.rsplit(':', 1)[-1]}"
        alive = self.t.healthy()
        if not alive:
            got += "; SERVER NOT ANSWERING /healthz"
        exp_s = "/".join(str(x) for x in sorted(exp, key=str)) + (
            f" {problem_type}" if problem_type else "")
        if not alive:
            advisory = False
        return self.r.add(name, exp_s, f"{got} in {dt:.2f} s", ok and alive, advisory)


def main():
    base, outdir = sys.argv[1], sys.argv[2]
    t = Target(base)
    fx = load_fixtures(outdir)
    at = fx["main"]["access_token"]
    r = Results("Oversize and malformed requests",
                "Raw-socket requests. `closed` = the server closed the connection without a "
                "response (acceptable only where the HTTP layer refuses garbage framing). "
                "Every case is followed by a /healthz probe.",
                key="malformed")
    s = Stage(t, r)
    reg = '{"email":"m@example.com","password":"correct horse battery staple"}'

    # --- size ---------------------------------------------------------------------------------
    # 1 MiB announced, body never sent: the 413 must come without waiting for the body.
    st, hdrs, body, dt, err = s.send(build(
        "POST", "/v1/users", ["Content-Type: application/json", "Content-Length: 1048576"],
        body=b"", cl=False), timeout=5)
    r.add("1 MiB Content-Length, body not sent: 413 before reading it", "413 in < 2 s",
          f"{st} in {dt:.2f} s", st == 413 and dt < 2)
    big = b'{"email":"' + b"a" * (1 << 20) + b'"}'
    s.check("1 MiB JSON body sent in full", json_post("/v1/users", big), {413, "closed"},
            timeout=15)
    s.check("16 KiB + 1 body (just over the limit)",
            json_post("/v1/users", b'{"e":"' + b"a" * (16384 - 7) + b'"}'), 413, "body-too-large")
    s.check("exactly 16 KiB body (at the limit): parsed, not 413",
            json_post("/v1/users", b'{"e":"' + b"a" * (16384 - 8) + b'"}'), 422,
            "validation-failed")
    chunks = b"".join(b"%x\r\n" % 8192 + b"a" * 8192 + b"\r\n" for _ in range(128)) + b"0\r\n\r\n"
    s.check("1 MiB chunked body (no Content-Length)", build(
        "POST", "/v1/users", ["Content-Type: application/json", "Transfer-Encoding: chunked"],
        body=chunks), {413, "closed"}, timeout=15)
    s.check("chunked body with a bogus chunk size", build(
        "POST", "/v1/users", ["Content-Type: application/json", "Transfer-Encoding: chunked"],
        body=b"zz\r\nabc\r\n0\r\n\r\n"), {400, "closed"})
    s.check("chunk size overflowing 64 bits", build(
        "POST", "/v1/users", ["Content-Type: application/json", "Transfer-Encoding: chunked"],
        body=b"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n"), {400, 413, "closed"})

    # --- JSON structure -----------------------------------------------------------------------
    s.check("100 000-deep JSON nesting (over the size limit)",
            json_post("/v1/users", "[" * 100000 + "]" * 100000), 413, "body-too-large")
    s.check("8 000-deep JSON nesting (under the size limit)",
            json_post("/v1/users", "[" * 8000 + "]" * 8000), 400, "malformed-request")
    s.check("16 000 unbalanced [", json_post("/v1/users", "[" * 16000), 400, "malformed-request")
    s.check("object nested 9 deep", json_post("/v1/users", '{"a":' * 9 + "1" + "}" * 9), 400,
            "malformed-request")
    s.check("array of 65 items", json_post("/v1/users", '{"email":[' + ",".join(["1"] * 65) +
                                           "]}"), 400, "malformed-request")
    s.check("object with 65 members", json_post(
        "/v1/users", "{" + ",".join(f'"k{i}":1' for i in range(65)) + "}"), 400,
        "malformed-request")
    s.check("invalid UTF-8 (\\xff\\xfe) in a string", json_post(
        "/v1/users", b'{"email":"\xff\xfe@example.com","password":"correct horse battery staple"}'),
        400, "malformed-request")
    s.check("overlong UTF-8 (\\xc0\\xaf)", json_post(
        "/v1/users", b'{"email":"a\xc0\xaf@example.com","password":"correct horse battery"}'),
        400, "malformed-request")
    s.check("UTF-8-encoded surrogate (\\xed\\xa0\\x80)", json_post(
        "/v1/users", b'{"display_name":"\xed\xa0\x80","email":"a@example.com","password":"x"}'),
        400, "malformed-request")
    s.check("lone surrogate escape \\ud800", json_post(
        "/v1/users", '{"email":"a@example.com","password":"x","display_name":"\\ud800"}'),
        {400, 422})
    s.check("duplicate key", json_post(
        "/v1/users", '{"email":"a@example.com","email":"b@example.com","password":"x"}'), 400,
        "malformed-request")
    s.check("NUL (\\u0000) in a key", json_post(
        "/v1/users", '{"email\\u0000":"a@example.com","password":"correct horse battery"}'), 400,
        "malformed-request")
    s.check("NUL (\\u0000) in a value", json_post(
        "/v1/users", '{"email":"a\\u0000@example.com","password":"correct horse battery"}'), 422,
        "validation-failed")
    s.check("raw NUL byte in a string", json_post(
        "/v1/users", b'{"email":"a\x00@example.com","password":"correct horse battery"}'), 400,
        "malformed-request")
    s.check("huge number 1e999999", json_post(
        "/v1/users", '{"email":1e999999,"password":"correct horse battery"}'), {400, 422})
    s.check("top-level array", json_post("/v1/users", "[]"), 422, "validation-failed")
    s.check("top-level null", json_post("/v1/users", "null"), 422, "validation-failed")
    s.check("top-level string", json_post("/v1/users", '"x"'), 422, "validation-failed")
    s.check("trailing garbage after the object", json_post("/v1/users", reg + "xyz"), 400,
            "malformed-request")
    s.check("two JSON objects", json_post("/v1/users", reg + reg), 400, "malformed-request")
    s.check("empty JSON body", json_post("/v1/users", ""), 400, "malformed-request")
    s.check("unknown field", json_post(
        "/v1/users", '{"email":"u@example.com","password":"correct horse battery","is_admin":true}'),
        422, "validation-failed")
    s.check("wrong type (email is an object)", json_post(
        "/v1/users", '{"email":{"$ne":null},"password":"correct horse battery"}'), 422,
        "validation-failed")
    s.check("BOM before the JSON", json_post("/v1/users", b"\xef\xbb\xbf" + reg.encode()),
            {400, 422})

    # --- Content-Type -------------------------------------------------------------------------
    s.check("text/plain body", json_post("/v1/users", reg, "text/plain"), 415,
            "unsupported-media-type")
    s.check("no Content-Type with a body", build("POST", "/v1/users", [], reg.encode()), 415,
            "unsupported-media-type")
    s.check("application/jsonx", json_post("/v1/users", reg, "application/jsonx"), 415,
            "unsupported-media-type")
    s.check("multipart/form-data", json_post("/v1/users", reg, "multipart/form-data; boundary=x"),
            415, "unsupported-media-type")
    s.check("form body to a JSON-only endpoint", json_post(
        "/v1/users", "email=a%40example.com", "application/x-www-form-urlencoded"), 415,
        "unsupported-media-type")
    s.check("JSON with a charset parameter (allowed)",
            json_post("/v1/users", '{"email":"x"}', "application/json; charset=utf-8"), 422,
            "validation-failed")
    s.check("body on GET /v1/me (takes none)", build(
        "GET", "/v1/me", [f"Authorization: Bearer {at}", "Content-Type: application/json"],
        b"{}"), 400, "unexpected-body")

    # --- form bodies (POST /v1/token) --------------------------------------------------------
    form = "application/x-www-form-urlencoded"
    # docs/api.md: bad encoding → 400 invalid_request (advisory: MHD's unescaper keeps it literal)
    for bad in ("%zz", "%4", "%"):
        s.check(f"form: invalid percent-encoding {bad}", json_post(
            "/v1/token", f"grant_type=password&username={bad}&password=x", form), 400,
            "malformed-request", advisory=True)
    s.check("form: repeated parameter", json_post(
        "/v1/token", "grant_type=password&username=a&username=b&password=x", form), 400,
        "malformed-request")
    s.check("form: %00 in a value", json_post(
        "/v1/token", "grant_type=password&username=a%00b&password=x", form), 400)
    s.check("form: invalid UTF-8 (%ff)", json_post(
        "/v1/token", "grant_type=password&username=%ff&password=x", form), 400)
    s.check("form: unsupported grant_type", json_post(
        "/v1/token", "grant_type=client_credentials", form), 400)

    # --- request line and headers -------------------------------------------------------------
    s.check("64 KiB request line", build("GET", "/healthz?" + "a" * 65536), {414, 431, 400,
                                                                            "closed"})
    s.check("100 KiB header value", build("GET", "/healthz", ["X-Big: " + "a" * 102400]),
            {431, 400, 413, "closed"})
    s.check("2 000 headers", build("GET", "/healthz", [f"X-H{i}: v" for i in range(2000)]),
            {431, 400, 413, "closed"})
    s.check("header line without a colon", build("GET", "/healthz", ["NoColonHere"]),
            {400, "closed"})
    s.check("obsolete line folding", build("GET", "/healthz", ["X-A: a", " folded"]),
            {200, 400, "closed"})
    # RFC 9110 5.5: NUL in a field value → reject (or replace with SP).
    s.check("NUL byte in a header value", build("GET", "/healthz", [b"X-A: a\x00b"]),
            {400, "closed"}, advisory=True)
    # The value reaches gatehouse as a C string: what follows a NUL is silently dropped.
    s.check("NUL then junk after a valid Bearer token", build(
        "GET", "/v1/me", [b"Authorization: Bearer " + at.encode() + b"\x00junk"]),
        {400, 401, "closed"}, advisory=True)
    s.check("non-numeric Content-Length", build(
        "POST", "/v1/users", ["Content-Type: application/json", "Content-Length: abc"],
        reg.encode()), {400, 413, "closed"})
    s.check("negative Content-Length", build(
        "POST", "/v1/users", ["Content-Type: application/json", "Content-Length: -1"],
        reg.encode()), {400, 413, "closed"})
    s.check("two different Content-Length headers (smuggling)", build(
        "POST", "/v1/users", ["Content-Type: application/json", "Content-Length: 5",
                              f"Content-Length: {len(reg)}"], reg.encode()), {400, "closed"})
    s.check("Content-Length and Transfer-Encoding together (smuggling)", build(
        "POST", "/v1/users", ["Content-Type: application/json", f"Content-Length: {len(reg)}",
                              "Transfer-Encoding: chunked"], reg.encode()), {400, "closed"})
    # RFC 9112 6.1: a Transfer-Encoding whose final coding is not chunked → 400 and close.
    s.check("Transfer-Encoding: gzip (not chunked)", build(
        "POST", "/v1/users", ["Content-Type: application/json", "Transfer-Encoding: gzip"],
        reg.encode()), {400, 411, 501, "closed"}, timeout=3, advisory=True)
    s.check("Transfer-Encoding: gzip, then the client half-closes", build(
        "POST", "/v1/users", ["Content-Type: application/json", "Transfer-Encoding: gzip"],
        reg.encode()), {400, 411, 501, "closed"}, timeout=3, advisory=True, shut=True)
    # RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
    s.check("HTTP/1.1 without Host", build("GET", "/healthz", host=False), {400, "closed"},
            advisory=True)
    s.check("HTTP/2.0 in the request line", build("GET", "/healthz", version="HTTP/2.0"),
            {400, 505, "closed"})
    s.check("HTTP/3.7 in the request line", build("GET", "/healthz", version="HTTP/3.7"),
            {400, 505, "closed"})
    s.check("HTTP/2 connection preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            {400, 404, 405, 505, "closed"})
    s.check("HTTP/0.9 request", b"GET /healthz\r\n\r\n", {400, 505, "closed"})
    s.check("garbage bytes", bytes(range(256)) * 4, {400, "closed"})
    s.check("bare LF line endings", b"GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n",
            {200, 400, "closed"})
    s.check("unknown method FOO", build("FOO", "/v1/users"), {400, 405, 501})
    s.check("PATCH on /v1/users", build("PATCH", "/v1/users"), 405, "method-not-allowed")
    s.check("TRACE /healthz", build("TRACE", "/healthz"), {405, 501})
    s.check("absolute-form request target", build("GET", "http://evil.example/healthz"),
            {200, 400, 404})
    s.check("path traversal /v1/../v1/me", build("GET", "/v1/../v1/me"), {401, 404})
    s.check("encoded traversal /%2e%2e/etc/passwd", build("GET", "/%2e%2e/%2e%2e/etc/passwd"), 404,
            "not-found")
    s.check("asterisk request target", build("OPTIONS", "*"), {400, 404, 405})
    s.check("truncated body (Content-Length 200, 50 sent, then half-close)",
            build("POST", "/v1/users", ["Content-Type: application/json", "Content-Length: 200"],
                  b"{" * 50, cl=False), {400, "closed"}, timeout=3, shut=True, advisory=True)
    s.check("Expect: 100-continue with an oversize Content-Length", build(
        "POST", "/v1/users", ["Content-Type: application/json", "Content-Length: 1048576",
                              "Expect: 100-continue"], b"", cl=False), 413, "body-too-large",
        timeout=5)

    # 200 connections opened and dropped mid-request (abort paths), then the server still works.
    for i in range(200):
        try:
            c = socket.create_connection((t.host, t.port), timeout=2)
            c.sendall(b"POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{\"email\":")
            c.close()
        except OSError:
            pass
    r.add("200 requests aborted mid-body, then /healthz", "200", "200" if t.healthy() else "down",
          t.healthy())
    return r.write(outdir, "malformed")


if __name__ == "__main__":
    sys.exit(main())
