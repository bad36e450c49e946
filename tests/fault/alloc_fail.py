#!/usr/bin/env python3
"""Allocation failure during a request → that request gets 503, the process lives on, and the
next request works.

gatehouse runs with GATEHOUSE_TEST_ALLOC_FAIL=1: a request carrying
`X-Gatehouse-Test-Alloc-Fail: N` has its Nth allocation fail — gatehouse's own (gh_malloc),
jansson's and SQLite's (their allocator hooks route through gh_malloc), on the HTTP thread and
in the request's password-hashing job — and the response says whether the fault `fired`.
For each request kind below, N runs 1, 2, 3, … until the fault no longer fires (the request
made fewer than N allocations), plus a few more N that land in the completion callback
(request log, metrics). For every N:
  - the answer is the normal success with a complete body (the failed allocation was one whose
    loss is harmless, e.g. an optional log field), or 503 problem+json with Retry-After —
    never a 500, a 4xx, a dropped connection or a success with a missing/partial body;
  - an acknowledged change happened (the new account signs in, the logged-out / deleted /
    revoked session's tokens are refused, the rotated-away token is dead, the new password
    works, the erased account is gone) — a negative verdict reached while an allocation failed
    ("unknown token: nothing to revoke") must not be acknowledged as done;
  - the process is still alive and answers /healthz, and (checked after the sweep) the same
    request without a fault succeeds.
At the end the server must stop cleanly on SIGTERM with exit 0 (the ASan build: no leak on any
of those error paths, LeakSanitizer changes the exit code).

Usage: alloc_fail.py BINARY WORKDIR
"""
import base64
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ghfault import (PASSWORD, PASSWORD2, Failure, Server, change_password, fail, form, log,
                     login, logout, main_guard, me, refresh, register)

HDR = "X-Gatehouse-Test-Alloc-Fail"
CLIENT_SECRET = "fault-test-introspection-secret-8d1c"  # a throw-away test credential
TAIL = 6            # N past the last "fired": the completion callback's allocations
MAX_N = 5000        # a request making more allocations than this is itself a finding


def keys(*names):
    def check(r):
        return isinstance(r.json, dict) and all(
            isinstance(r.json.get(k), str) and r.json.get(k) for k in names)
    return check


def nonempty_keys_list(r):
    return (isinstance(r.json, dict) and isinstance(r.json.get("keys"), list)
            and len(r.json["keys"]) > 0 and all("kid" in k for k in r.json["keys"]))


def no_body(r):
    return r.data == b""


def sessions_list(r):
    return isinstance(r.json, list) and len(r.json) >= 1 and all(
        isinstance(s, dict) and "id" in s and "current" in s for s in r.json)


def export_ok(r):
    j = r.json
    return (isinstance(j, dict) and j.get("format") == "gatehouse-export-v1"
            and isinstance(j.get("user"), dict) and j["user"].get("email")
            and isinstance(j.get("sessions"), list) and isinstance(j.get("audit_events"), list))


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def token_pair(r):
    return keys("access_token", "refresh_token", "token_type")(r) and \
        isinstance(r.json.get("expires_in"), int)


class Ctx:
    def __init__(self, srv):
        self.srv = srv
        self.seq = 0
        self.email = "alloc-main@example.com"
        r = register(srv, self.email)
        if r.status != 201:
            fail(f"setup: register gave {r.describe()}")
        self.at = self.fresh_pair()[0]
        # The reader: one session only (the main user collects hundreds), so that its session
        # list and export stay small.
        self.reader = "alloc-reader@example.com"
        r = register(srv, self.reader)
        if r.status != 201:
            fail(f"setup: register gave {r.describe()}")
        self.reader_at = self.fresh_pair(self.reader)[0]

    def unique_email(self):
        self.seq += 1
        return f"alloc-{self.seq}-{time.monotonic_ns()}@example.com"

    def fresh_pair(self, email=None, password=PASSWORD):
        r = login(self.srv, email or self.email, password)
        if r.status != 200 or not token_pair(r):
            fail(f"setup: login gave {r.describe()}")
        return r.json["access_token"], r.json["refresh_token"]

    def fresh_user(self):
        email = self.unique_email()
        r = register(self.srv, email)
        if r.status != 201:
            fail(f"setup: register gave {r.describe()}")
        return email


def expect(r, status, what):
    """None when r has the status; else what went wrong (an acknowledged change is missing)."""
    return None if r.status == status else f"acknowledged, but {what} ({r.describe()})"


def scenarios(c):
    """name → (prepare() → send(headers) → Resp, success status, body check)."""
    s = c.srv

    def healthz():
        return lambda h: s.request("GET", "/healthz", headers=h)

    def readyz():
        return lambda h: s.request("GET", "/readyz", headers=h)

    def jwks():
        return lambda h: s.request("GET", "/.well-known/jwks.json", headers=h)

    def reg():
        email = c.unique_email()
        return (lambda h: register(s, email, headers=h),
                lambda r: expect(login(s, email), 200, "the new account cannot sign in"))

    def login_json():
        return lambda h: login(s, c.email, headers=h)

    def login_form():
        body = form({"grant_type": "password", "username": c.email, "password": PASSWORD})
        return lambda h: s.request("POST", "/v1/token", body, headers={
            "Content-Type": "application/x-www-form-urlencoded", **h})

    def me_get():
        return lambda h: me(s, c.at, headers=h)

    def me_fresh_token():
        at, _ = c.fresh_pair()  # not yet in the verified-token cache: the full check
        return lambda h: me(s, at, headers=h)

    auth = {"Authorization": f"Bearer {c.reader_at}"}

    def sessions():
        # The whole list or 503: the count must match the one just read without a fault.
        ref = s.request("GET", "/v1/me/sessions", headers=auth)
        if ref.status != 200 or not isinstance(ref.json, list):
            fail(f"setup: sessions gave {ref.describe()}")
        c.expect_sessions = len(ref.json)
        return lambda h: s.request("GET", "/v1/me/sessions", headers={**auth, **h})

    def export():
        # Everything or 503: as many sessions as just read, and the audit events of the
        # reference export plus its own "export" event.
        ref = s.request("GET", "/v1/me/export", headers=auth)
        if ref.status != 200 or not export_ok(ref):
            fail(f"setup: export gave {ref.describe()}")
        c.expect_export = (len(ref.json["sessions"]), len(ref.json["audit_events"]) + 1)
        return lambda h: s.request("GET", "/v1/me/export", headers={**auth, **h})

    def sessions_whole(r):
        return sessions_list(r) and len(r.json) == c.expect_sessions

    def export_whole(r):
        return export_ok(r) and (len(r.json["sessions"]), len(r.json["audit_events"])) == \
            c.expect_export

    def do_refresh():
        _, rt = c.fresh_pair()
        return (lambda h: refresh(s, rt, headers=h),
                lambda r: expect(refresh(s, rt), 401, "the rotated-away refresh token works"))

    def do_logout():
        at, _ = c.fresh_pair()
        return (lambda h: logout(s, at, headers=h),
                lambda r: expect(me(s, at), 401, "the logged-out access token works"))

    def do_password():
        email = c.fresh_user()
        at, _ = c.fresh_pair(email)
        return (lambda h: change_password(s, at, PASSWORD, PASSWORD2, headers=h),
                lambda r: expect(login(s, email, PASSWORD2), 200,
                                 "the new password does not work"))

    def cookie_signin():
        body = {"email": c.email, "password": PASSWORD}
        hdrs = {"X-CSRF-Token": "1"}  # no Origin: a same-site, non-browser client
        return lambda h: s.request("POST", "/v1/session", body, headers={**hdrs, **h})

    def auth_check():
        return lambda h: s.request("GET", "/v1/auth/check",
                                   headers={"Authorization": f"Bearer {c.reader_at}", **h})

    def delete_session():
        at, _ = c.fresh_pair()
        sid = jwt_claims(at)["sid"]
        return (lambda h: s.request("DELETE", f"/v1/me/sessions/{sid}",
                                    headers={"Authorization": f"Bearer {c.at}", **h}),
                lambda r: expect(me(s, at), 401, "the deleted session's access token works"))

    def erase():
        email = c.fresh_user()
        at, _ = c.fresh_pair(email)
        return (lambda h: s.request("DELETE", "/v1/me", {"password": PASSWORD},
                                    headers={"Authorization": f"Bearer {at}", **h}),
                lambda r: expect(login(s, email), 401, "the erased account signs in"))

    basic = {"Authorization": "Basic " + base64.b64encode(
        f"rs1:{CLIENT_SECRET}".encode()).decode()}

    def introspect():
        return lambda h: s.request("POST", "/v1/introspect", {"token": c.reader_at},
                                   headers={**basic, **h})

    def revoke():
        _, rt = c.fresh_pair()
        return (lambda h: s.request("POST", "/v1/revoke",
                                    {"token": rt, "token_type_hint": "refresh_token"},
                                    headers={**basic, **h}),
                lambda r: expect(refresh(s, rt), 401, "the revoked refresh token works"))

    return [
        ("GET /v1/me/export", export, 200, export_whole),
        ("GET /healthz", healthz, 200, lambda r: r.json == {"status": "ok"}),
        ("GET /readyz", readyz, 200, lambda r: r.json == {"status": "ready"}),
        ("GET /.well-known/jwks.json", jwks, 200, nonempty_keys_list),
        ("POST /v1/users", reg, 201, keys("id", "email", "created_at")),
        ("POST /v1/token (JSON)", login_json, 200, token_pair),
        ("POST /v1/token (form)", login_form, 200, token_pair),
        ("GET /v1/me (cached token)", me_get, 200, keys("id", "email", "created_at")),
        ("GET /v1/me (new token)", me_fresh_token, 200, keys("id", "email", "created_at")),
        ("GET /v1/me/sessions", sessions, 200, sessions_whole),
        ("POST /v1/token/refresh", do_refresh, 200, token_pair),
        ("POST /v1/logout", do_logout, 204, no_body),
        ("PUT /v1/me/password", do_password, 204, no_body),
        ("POST /v1/session (cookie sign-in)", cookie_signin, 200,
         lambda r: keys("user_id", "session_id", "csrf_token")(r)
         and "gh_session=" in (r.header("set-cookie") or "")),
        ("GET /v1/auth/check", auth_check, 200,
         lambda r: bool(r.header("x-auth-user-id")) and bool(r.header("x-auth-session-id"))),
        ("DELETE /v1/me/sessions/{id}", delete_session, 204, no_body),
        ("DELETE /v1/me (erasure)", erase, 204, no_body),
        ("POST /v1/introspect", introspect, 200,
         lambda r: isinstance(r.json, dict) and r.json.get("active") is True
         and r.json.get("sub")),
        ("POST /v1/revoke", revoke, 200, no_body),
    ]


def split(p):
    """prepare() gives send, or (send, effect): effect(r) checks an acknowledged change."""
    return p if isinstance(p, tuple) else (p, None)


def allocations_of(r):
    """K from "not-fired; allocations=K", else None."""
    v = r.header(HDR) or ""
    if v.startswith("not-fired; allocations="):
        return int(v.split("=", 1)[1])
    return None


def sweep(c, name, prepare, ok_status, ok_body, findings):
    srv = c.srv
    t0 = time.monotonic()
    # How many allocations does the request make? (a fault far beyond them never fires)
    send, _ = split(prepare())
    r = send({HDR: "100000000"})
    k = allocations_of(r)
    if r.status != ok_status or not ok_body(r) or k is None or k < 1:
        fail(f"{name}: the measuring request gave {r.describe()}, {HDR}: {r.header(HDR)}")
    if k > MAX_N:
        fail(f"{name}: {k} allocations for one request")
    n, last_fired, fired_total, unavailable = 0, 0, 0, 0
    while n < k + TAIL:
        n += 1
        send, effect = split(prepare())
        try:
            r = send({HDR: str(n)})
        except OSError as e:
            findings.append(f"{name} N={n}: no answer ({type(e).__name__})")
            r = None
        if not srv.alive():
            fail(f"{name} N={n}: the process died (exit {srv.proc.returncode}); log tail:\n"
                 f"{srv.log_tail()}")
        if r is not None:
            fired = r.header(HDR) or ""
            if fired.startswith("not-fired"):
                k = max(k, allocations_of(r) or 0)  # this one allocated more: sweep on
                fired = "not-fired"
            if fired not in ("fired", "not-fired"):
                fail(f"{name} N={n}: no {HDR} answer header ({r.describe()}): is "
                     f"GATEHOUSE_TEST_ALLOC_FAIL honoured?")
            if fired == "fired":
                last_fired = n
                fired_total += 1
            if r.status == ok_status:
                if not ok_body(r):
                    findings.append(f"{name} N={n}: {r.status} with a missing or partial body")
                elif effect and (why := effect(r)):
                    findings.append(f"{name} N={n}: {why}")
            elif r.status == 503:
                unavailable += 1
                if not r.is_unavailable():
                    findings.append(f"{name} N={n}: 503 without a problem+json body and "
                                    f"Retry-After")
                if fired != "fired":
                    findings.append(f"{name} N={n}: 503 although no allocation failed")
            else:
                findings.append(f"{name} N={n}: {r.describe()} (expected {ok_status} or 503)")
            if fired == "not-fired" and r.status != ok_status:
                findings.append(f"{name} N={n}: no fault, yet {r.describe()}")
        h = srv.request("GET", "/healthz")
        if h.status != 200 or h.json != {"status": "ok"}:
            fail(f"{name} N={n}: /healthz after the fault gave {h.describe()}")
        # The measuring request may have allocated more than the rest (a statement prepared on
        # first use): once TAIL faults in a row found nothing to fail, the sweep is complete.
        if last_fired and n >= last_fired + TAIL:
            break
    # The same request without a fault works.
    send, effect = split(prepare())
    r = send({})
    if r.status != ok_status or not ok_body(r):
        fail(f"{name}: without a fault afterwards gave {r.describe()}")
    if effect and (why := effect(r)):
        fail(f"{name}: without a fault: {why}")
    log(f"  {name}: N=1..{n} ({k} allocations at most), {fired_total} faults injected, "
        f"{unavailable} answered 503, the rest absorbed ({time.monotonic() - t0:.1f}s)")
    return fired_total


def summarize(findings):
    """'name N=3: what' lines → one line per (name, what) with its N values."""
    groups = {}
    for f in findings:
        head, what = f.split(": ", 1)
        name, n = head.rsplit(" N=", 1)
        groups.setdefault((name, what), []).append(int(n))
    out = []
    for (name, what), ns in groups.items():
        shown = ",".join(map(str, ns[:12])) + (",…" if len(ns) > 12 else "")
        out.append(f"{name}: {what} — {len(ns)}× (N={shown})")
    return out


def run(binary, workdir):
    data = os.path.join(workdir, "data")
    os.makedirs(data, mode=0o700, exist_ok=True)
    srv = Server(binary, data, os.path.join(workdir, "server.log"),
                 env={"GATEHOUSE_TEST_ALLOC_FAIL": "1", "GATEHOUSE_HTTP_THREADS": "2",
                      "GATEHOUSE_HASH_THREADS": "2",
                      "GATEHOUSE_INTROSPECTION_CLIENTS": f"rs1:{CLIENT_SECRET}"})
    srv.start()
    findings = []
    total = 0
    try:
        c = Ctx(srv)
        # Without the header nothing is injected.
        r = srv.request("GET", "/healthz")
        if r.status != 200 or r.header(HDR) is not None:
            fail("a request without the header carried a fault")
        for name, prepare, st, check in scenarios(c):
            total += sweep(c, name, prepare, st, check, findings)
        # The setting is refused in production (before anything binds or opens).
        env = dict(srv.env, GATEHOUSE_ENV="production")
        env.pop("GATEHOUSE_TEST_INSECURE_FAST_HASH")
        p = subprocess.run([binary, "serve"], env=env, capture_output=True, timeout=30)
        if p.returncode == 0 or b"GATEHOUSE_TEST_ALLOC_FAIL" not in p.stderr:
            fail("production did not refuse GATEHOUSE_TEST_ALLOC_FAIL")
    except Failure:
        srv.kill9()
        raise
    rc = srv.stop()
    if rc != 0:
        fail(f"SIGTERM after the sweeps: exit {rc} (a leak or error on an error path?); "
             f"log tail:\n{srv.log_tail(40)}")
    if findings:
        fail(f"{len(findings)} wrong answers under allocation failure:\n  " +
             "\n  ".join(summarize(findings)))
    log(f"{total} allocation failures injected; every request answered 503 or succeeded "
        f"whole, and the process survived each one")


if __name__ == "__main__":
    main_guard(lambda: run(sys.argv[1], sys.argv[2]))
