#!/usr/bin/env python3
"""sqlmap against every gatehouse endpoint that takes input, and against the injectable control.

Usage: sqlmap_stage.py GATEHOUSE_URL CONTROL_URL OUTDIR
Writes OUTDIR/sqlmap.md (per target: the parameters sqlmap actually tested, parsed from its
"testing for SQL injection on ... parameter '...'" lines, request count, HTTP codes seen, verdict)
and OUTDIR/sqlmap/<target>/{console.txt,...}. Exit 1 when a gatehouse target is flagged, answers
5xx or 429, a target did not test every parameter it should, or a control is NOT flagged.

Each target gets its own account and tokens, because sqlmap's baseline request is replayed
thousands of times: a password change, a logout or a revocation must not disturb another target.
"""
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse

from attacklib import Results, Target, md_escape

# Identical for gatehouse and the controls, so a flagged control proves this exact setup works.
# --dbms SQLite: the only backend (store_sqlite.c); sqlmap's SQLite payloads at level 3 / risk 3
# include OR-based boolean, time-based (heavy query), stacked and inline queries. Without it
# every other DBMS's payloads are sent too (5-6x longer, no added coverage for SQLite).
SQLMAP_COMMON = [
    "--batch", "--ignore-stdin", "--disable-coloring", "--flush-session", "--skip-waf",
    "--drop-set-cookie", "--level", "3", "--risk", "3", "--dbms", "SQLite",
    "--technique", "BEUSTQ", "--time-sec", "2", "--timeout", "10", "--retries", "1",
    "--ignore-code", "401", "--abort-code", "429", "--answers", "follow=N",
]
PER_TARGET_TIMEOUT = int(os.environ.get("GH_ATTACK_SQLMAP_TIMEOUT", "180"))
# The whole stage: targets not finished within it are reported as not run (and fail the stage).
BUDGET = int(os.environ.get("GH_ATTACK_SQLMAP_BUDGET", "270"))
# Every request to these hashes a password (the dummy hash included): they start first.
SLOW_TARGETS = ("token-json", "token-form-password", "session-create", "session-csrf-header",
                "me-password", "me-delete", "register")
JOBS = int(os.environ.get("GH_ATTACK_SQLMAP_JOBS", "4"))
INTROSPECT_CRED = os.environ.get("GH_ATTACK_INTROSPECT_CRED", "rs:attack-suite-introspection-secret")

TESTED_RE = re.compile(r"testing for SQL injection on (.*?parameter '([^']+)')")
# sqlmap's confirmed findings (after its own false-positive check), and a DBMS error message
# in a response (its heuristic), which would be a leak even without an injection.
FLAG_RES = [
    re.compile(r"identified the following injection point"),
    re.compile(r"parameter '[^']+' is vulnerable"),
    re.compile(r"heuristic \(basic\) test shows that .* might be injectable"),
]
# Suspicions sqlmap later withdrew ("false positive or unexploitable"): reported, not failed.
SUSPECT_RES = [
    re.compile(r"parameter '[^']+' appears to be '.*' injectable"),
    re.compile(r"false positive or unexploitable injection point detected"),
    re.compile(r"heuristic \(XSS\) test shows that"),
]
CONN_RES = re.compile(r"CRITICAL\].*(connection|unable to connect|timed out|refused|reset)",
                      re.I)
CODES_RE = re.compile(r"(\d{3}) \(([^)]*)\) - (\d+) times")


class Setup:
    """Accounts for the targets: one per target that changes state."""

    def __init__(self, t, password):
        self.t = t
        self.pw = password
        self.n = 0

    def user(self, tag):
        email = f"sqlmap-{tag}@example.com"
        st, _, body = self.t.json("POST", "/v1/users", {"email": email, "password": self.pw})
        if st not in (201, 409):
            raise SystemExit(f"sqlmap setup: register {email}: {st} {body}")
        return self.login(email)

    def login(self, email):
        st, _, body = self.t.json("POST", "/v1/token", {"email": email, "password": self.pw})
        if st != 200:
            raise SystemExit(f"sqlmap setup: login {email}: {st} {body}")
        st, _, me = self.t.json("GET", "/v1/me",
                                headers={"Authorization": "Bearer " + body["access_token"]})
        return {"email": email, "id": me["id"], "at": body["access_token"],
                "rt": body["refresh_token"], "device": body.get("device_token", "")}

    def browser_session(self, email):
        st, hdrs, body = self.t.json("POST", "/v1/session", {"email": email, "password": self.pw},
                                     headers={"X-CSRF-Token": "1"})
        if st != 200:
            raise SystemExit(f"sqlmap setup: /v1/session {email}: {st} {body}")
        cookies = {}
        for n, v in hdrs:
            if n.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                cookies[name] = rest.split(";", 1)[0]
        return cookies


def form(**kw):
    return urllib.parse.urlencode(kw)


def gatehouse_targets(t, fx):
    s = Setup(t, fx["password"])
    pw = fx["password"]
    bearer = lambda u: ["Authorization: Bearer " + u["at"]]  # noqa: E731
    tg = []

    def add(name, method, path, data=None, params=None, headers=None, cookie=None, basic=False,
            expect=None, note=""):
        tg.append({"name": name, "method": method, "path": path, "data": data, "params": params,
                   "headers": headers or [], "cookie": cookie, "basic": basic,
                   "expect": expect if expect is not None else (params or []), "note": note})

    u = s.user("register")
    add("register", "POST", "/v1/users",
        json.dumps({"email": u["email"], "password": pw, "display_name": "Ada"}),
        ["email", "password", "display_name"], note="baseline: an existing email (409)")
    u = s.user("token-json")
    add("token-json", "POST", "/v1/token",
        json.dumps({"email": u["email"], "password": pw, "device_token": u["device"]}),
        ["email", "password", "device_token"], note="baseline: a valid login (200)")
    u = s.user("token-form")
    add("token-form-password", "POST", "/v1/token",
        form(grant_type="password", username=u["email"], password=pw, device_token=u["device"]),
        ["grant_type", "username", "password", "device_token"], note="baseline: a valid login")
    u = s.user("token-form-refresh")
    add("token-form-refresh", "POST", "/v1/token",
        form(grant_type="refresh_token", refresh_token=u["rt"]),
        ["grant_type", "refresh_token"], note="baseline: first use rotates, then reuse (400)")
    u = s.user("refresh")
    add("token-refresh", "POST", "/v1/token/refresh", json.dumps({"refresh_token": u["rt"]}),
        ["refresh_token"])
    u = s.user("logout")
    add("logout", "POST", "/v1/logout", json.dumps({"refresh_token": u["rt"]}), ["refresh_token"])
    u = s.user("me")
    add("me-bearer", "GET", "/v1/me", headers=["Authorization: Bearer " + u["at"] + "*"],
        expect=["#1*"], note="injection point: the Bearer token (header marker)")
    add("me-cookie", "GET", "/v1/me", cookie="gh_session=" + u["at"], params=["gh_session"])
    add("auth-check", "GET", "/v1/auth/check",
        headers=["Authorization: Bearer " + u["at"] + "*"], expect=["#1*"])
    add("me-headers", "GET", "/v1/me", headers=bearer(u) + ["X-Forwarded-For: 10.9.8.7*"],
        expect=["#1*"], note="X-Forwarded-For (untrusted peer)")
    add("me-user-agent", "GET", "/v1/me", headers=bearer(u), params=["user-agent", "referer"],
        expect=["User-Agent", "Referer"])
    u = s.user("password")
    add("me-password", "PUT", "/v1/me/password",
        json.dumps({"current_password": pw, "new_password": pw}),
        ["current_password", "new_password"], headers=bearer(u),
        note="baseline: a valid change (204)")
    u = s.user("erase")
    add("me-delete", "DELETE", "/v1/me", json.dumps({"password": pw + " wrong"}), ["password"],
        headers=bearer(u), note="baseline: a wrong password (401), so the account survives")
    u = s.user("sessions")
    other = s.login(u["email"])
    other_sid = session_id(t, other["at"])
    add("me-session-delete", "DELETE", f"/v1/me/sessions/{other_sid}*", headers=bearer(u),
        expect=["#1*"], note="injection point: the {id} path segment")
    u = s.user("session")
    add("session-create", "POST", "/v1/session",
        json.dumps({"email": u["email"], "password": pw}), ["email", "password"],
        headers=["X-CSRF-Token: 1"])
    add("session-csrf-header", "POST", "/v1/session",
        json.dumps({"email": u["email"], "password": pw}), headers=["X-CSRF-Token: 1*"],
        expect=["#1*"], note="injection point: X-CSRF-Token")
    cookies = s.browser_session(u["email"])
    add("session-refresh-cookie", "POST", "/v1/session/refresh",
        cookie="gh_refresh=" + cookies.get("gh_refresh", "x"), params=["gh_refresh"],
        headers=["X-CSRF-Token: 1"])
    u = s.user("introspect")
    add("introspect-form", "POST", "/v1/introspect",
        form(token=u["at"], token_type_hint="access_token"), ["token", "token_type_hint"],
        basic=True, note="baseline: an active token (active:true)")
    add("introspect-json", "POST", "/v1/introspect", json.dumps({"token": u["at"]}), ["token"],
        basic=True)
    u = s.user("revoke")
    add("revoke-form", "POST", "/v1/revoke",
        form(token=u["rt"], token_type_hint="refresh_token"), ["token", "token_type_hint"],
        basic=True)
    u = s.user("revoke-json")
    add("revoke-json", "POST", "/v1/revoke",
        json.dumps({"token": u["at"], "token_type_hint": "access_token"}),
        ["token", "token_type_hint"], basic=True)

    admin = fx.get("admin")
    victim = s.user("admin-victim")
    if admin:
        st, _, _ = t.json("GET", "/v1/admin/users?" + form(email=victim["email"]),
                          headers={"Authorization": "Bearer " + admin["access_token"]})
        ah = ["Authorization: Bearer " + admin["access_token"]]
        if st == 404:
            add("admin", "GET", "/v1/admin/users", expect=[], note="SKIP: /v1/admin/users "
                "answers 404 (route not built yet)")
            tg[-1]["skip"] = True
        else:
            add("admin-users-email", "GET", "/v1/admin/users?" + form(email=victim["email"]),
                params=["email"], headers=ah)
            add("admin-user-get", "GET", f"/v1/admin/users/{victim['id']}*", headers=ah,
                expect=["#1*"])
            add("admin-user-unlock", "POST", f"/v1/admin/users/{victim['id']}*/unlock",
                headers=ah, expect=["#1*"])
            add("admin-user-revoke-sessions", "POST",
                f"/v1/admin/users/{victim['id']}*/revoke-sessions", headers=ah, expect=["#1*"])
            add("admin-audit", "GET", "/v1/admin/audit?before=1000&limit=10",
                params=["before", "limit"], headers=ah)
    return tg


def session_id(t, at):
    st, _, body = t.json("GET", "/v1/session", headers={"Authorization": "Bearer " + at})
    if st != 200:
        raise SystemExit(f"sqlmap setup: GET /v1/session gave {st}")
    return body["session_id"]


def control_targets():
    tg = []

    def add(name, method, path, data=None, params=None, headers=None, cookie=None, expect=None,
            note=""):
        tg.append({"name": name, "method": method, "path": path, "data": data, "params": params,
                   "headers": headers or [], "cookie": cookie, "basic": False,
                   "expect": expect if expect is not None else (params or []), "note": note,
                   "control": True,
                   # Once one control proved time-based detection, the others skip it: its
                   # heavy queries cost the control seconds of CPU each.
                   "technique": None if name == "control-json" else "BEUSQ"})

    add("control-json", "POST", "/search", json.dumps({"name": "alice"}), ["name"],
        note="all techniques, as for gatehouse (time-based included)")
    add("control-form", "POST", "/search", form(name="alice"), ["name"])
    add("control-query", "GET", "/search?name=alice", params=["name"])
    add("control-uri", "GET", "/items/alice*", expect=["#1*"])
    add("control-header", "GET", "/me", headers=["Authorization: Bearer alice*"], expect=["#1*"])
    add("control-cookie", "GET", "/me", cookie="session=alice", params=["session"])
    return tg


def place_of(tgt):
    """The injection place(s) of a target, for --param-filter: only what the target is about
    is tested (without it sqlmap also appends URI injection points and tests User-Agent and
    Referer everywhere at level 3; those have their own target)."""
    if tgt["params"] and tgt["params"][0] in ("user-agent", "referer"):
        return "User-Agent,Referer", None
    if any("*" in h for h in tgt["headers"]):
        h = next(h for h in tgt["headers"] if "*" in h)
        return "(custom) HEADER", h.split(":", 1)[0] + " #1*"
    if "*" in tgt["path"]:
        return "URI", "#1*"
    if tgt["cookie"] and tgt["params"]:
        return "Cookie", None
    if tgt["data"] is not None:
        return ("(custom) POST" if tgt["data"].startswith("{") else "POST"), None
    return "GET", None


def command(base, tgt, outdir):
    cmd = ["sqlmap", "-u", base + tgt["path"], "--output-dir", outdir,
           "-t", os.path.join(outdir, "traffic.txt")] + SQLMAP_COMMON
    place, marker = place_of(tgt)
    if tgt["data"] is None:
        # (With a body, -p is enough; --param-filter would also drop PUT/DELETE bodies.)
        cmd += ["--param-filter", place]
    if tgt.get("technique"):
        cmd[cmd.index("--technique") + 1] = tgt["technique"]
    if marker:
        # Named explicitly: sqlmap ignores *token*/*csrf* parameters below --level 4.
        cmd += ["-p", marker]
    if tgt["method"] != ("POST" if tgt["data"] else "GET"):
        cmd += ["--method", tgt["method"]]
    if tgt["data"] is not None:
        cmd += ["--data", tgt["data"]]
    if tgt["params"]:
        cmd += ["-p", ",".join(tgt["params"])]
    if tgt["headers"]:
        cmd += ["--headers", "\n".join(tgt["headers"])]
    if tgt["cookie"]:
        cmd += ["--cookie", tgt["cookie"]]
    if tgt["basic"]:
        cmd += ["--auth-type", "Basic", "--auth-cred", INTROSPECT_CRED]
    return cmd


def run_one(base, tgt, root, deadline):
    outdir = os.path.join(root, tgt["name"])
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    timeout = min(PER_TARGET_TIMEOUT, deadline - time.monotonic())
    if timeout < 5:
        return not_run(tgt, f"not run: the stage's {BUDGET} s budget was spent")
    cmd = command(base, tgt, outdir)
    with open(os.path.join(outdir, "command.txt"), "w") as f:
        f.write(" ".join(repr(c) if " " in c or "\n" in c else c for c in cmd) + "\n")
    env = dict(os.environ, TERM="dumb")
    t0 = time.monotonic()
    timed_out = False
    with open(os.path.join(outdir, "console.txt"), "wb") as out:
        try:
            p = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               env=env, timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            timed_out, rc = True, None
    dt = time.monotonic() - t0
    return analyse(tgt, outdir, rc, timed_out, dt, timeout)


def not_run(tgt, why):
    place, _ = place_of(tgt)
    return {"name": tgt["name"], "method": tgt["method"], "path": tgt["path"], "place": place,
            "tested": [], "nreq": 0, "codes": {}, "seconds": 0, "ok": False,
            "verdict": "**NOT RUN**", "problems": [why], "flags": [], "note": tgt["note"],
            "control": tgt.get("control", False), "suspects": []}


def analyse(tgt, outdir, rc, timed_out, dt, timeout):
    text = open(os.path.join(outdir, "console.txt"), encoding="utf-8", errors="replace").read()
    tested = []
    for m in TESTED_RE.finditer(text):
        if m.group(1) not in tested:
            tested.append(m.group(1))
    flags = [line.strip() for line in text.splitlines()
             if any(r.search(line) for r in FLAG_RES)]
    suspects = [re.sub(r"^\[[0-9:]+\] \[\w+\] ", "", line.strip()) for line in text.splitlines()
                if any(r.search(line) for r in SUSPECT_RES)]
    conn = [line.strip() for line in text.splitlines() if CONN_RES.search(line)]
    codes = {}
    for m in CODES_RE.finditer(text):
        codes[int(m.group(1))] = codes.get(int(m.group(1)), 0) + int(m.group(3))
    traffic = os.path.join(outdir, "traffic.txt")
    nreq = 0
    if os.path.exists(traffic):
        with open(traffic, encoding="utf-8", errors="replace") as f:
            nreq = sum(1 for line in f if line.startswith("HTTP request [#"))
        if not os.environ.get("GH_ATTACK_KEEP_TRAFFIC"):
            os.remove(traffic)
    missing = [e for e in tgt["expect"]
               if not any(f"'{e}'" in lab or f"'JSON {e}'" in lab or
                          (e.startswith("#") and e in lab) or
                          lab.lower().endswith(f"'{e.lower()}'") for lab in tested)]
    aborted = "aborting due to detected HTTP code" in text
    problems = []
    if timed_out:
        problems.append(f"timed out after {timeout:.0f} s")
    elif rc != 0:
        problems.append(f"sqlmap exit {rc}")
    if aborted:
        problems.append("aborted on HTTP 429 (rate limit not raised?)")
    if missing:
        problems.append("not tested: " + ", ".join(missing))
    if conn:
        problems.append("connection problems: " + conn[0][:120])
    if not tested:
        problems.append("no parameter tested")
    bad_codes = {c: n for c, n in codes.items() if c >= 500 or c == 429}
    control = tgt.get("control", False)
    if control:
        ok = bool(flags) and any("identified the following injection point" in f for f in flags) \
            and not timed_out
        if not ok:
            problems.insert(0, "control NOT flagged: sqlmap does not work here")
        verdict = "flagged (expected)" if ok else "**NOT flagged**"
    else:
        if flags:
            problems.insert(0, "FLAGGED: " + flags[0][:160])
        if bad_codes:
            problems.append("server errors: " + ", ".join(f"{c}×{n}" for c, n in bad_codes.items()))
        ok = not problems
        verdict = "not injectable" if ok else "**FAIL**"
    if control:
        ok = ok and not missing and not aborted
        if ok:
            problems = []
    place, _ = place_of(tgt)
    extra = [f"`{shorten(h)}`" for h in tgt["headers"] if "*" in h]
    if tgt["cookie"]:
        extra.append(f"`Cookie: {shorten(tgt['cookie'])}`")
    if tgt["data"] is not None:
        extra.append(f"`{shorten(tgt['data'])}`")
    return {"name": tgt["name"], "method": tgt["method"], "path": tgt["path"],
            "place": PLACE_NAMES.get(place, place) + ("" if not extra else ": " + "; ".join(extra)),
            "tested": tested, "nreq": nreq, "codes": codes, "seconds": round(dt, 1), "ok": ok,
            "verdict": verdict, "problems": problems, "flags": flags[:5], "note": tgt["note"],
            "control": control, "suspects": suspects[:4]}


PLACE_NAMES = {"(custom) POST": "JSON body", "POST": "form body", "GET": "query string",
               "URI": "URI path (*)", "(custom) HEADER": "header (*)", "Cookie": "cookie",
               "User-Agent,Referer": "User-Agent and Referer headers"}


def shorten(text):
    """Tokens, ids and the run's password out of the report: long, secret-looking, useless."""
    pw = os.environ.get("GH_ATTACK_PASSWORD")
    if pw:
        text = text.replace(pw, "<password>").replace(urllib.parse.quote_plus(pw), "<password>")
    return re.sub(r"[A-Za-z0-9_-]{20,}(\.[A-Za-z0-9_-]{20,})*", "<id>", text)


def markdown(results, skipped, base, control_base):
    out = ["## sqlmap (SQL injection)", "",
           f"`sqlmap {' '.join(SQLMAP_COMMON)}` per target (plus `-p`/`--param-filter` naming "
           f"its injection place), {JOBS} at a time, each under a {PER_TARGET_TIMEOUT} s "
           f"timeout, all within {BUDGET} s. Controls other than control-json use "
           "`--technique BEUSQ`. Gatehouse at {base}; the deliberately injectable "
           f"control (tests/attack/vulnerable.py) at {control_base}. \"Parameters tested\" is "
           "parsed from sqlmap's own `testing for SQL injection on ... parameter` lines; "
           "requests are counted from its `-t` traffic log.", ""]
    out.append("| target | request | injection place | parameters tested | "
               "requests | HTTP codes | time | verdict |")
    out.append("|---|---|---|---|---|---|---|---|")
    for r in results:
        codes = ", ".join(f"{c}×{n}" for c, n in sorted(r["codes"].items())) or "2xx only"
        tested = "<br>".join(md_escape(x) for x in r["tested"]) or "—"
        verdict = r["verdict"] + ("" if not r["problems"] else ": " +
                                  md_escape("; ".join(r["problems"])))
        if r["suspects"] and not r["control"]:
            verdict += " (sqlmap's own false-positive check withdrew: " + md_escape(
                "; ".join(r["suspects"][:2])) + ")"
        place = r["place"].replace("|", "\\|")
        out.append(f"| {r['name']} | `{r['method']} {md_escape(shorten(r['path']))}` | "
                   f"{place} | {tested} | {r['nreq']} | {codes} | "
                   f"{r['seconds']} s | {verdict} |")
    for s in skipped:
        out.append(f"| {s['name']} | `{s['method']} {md_escape(s['path'])}` | — | — | 0 | — | — | "
                   f"{md_escape(s['note'])} |")
    notes = [r for r in results if r["note"]]
    if notes:
        out += ["", "Baselines and injection points:"]
        out += [f"- {r['name']}: {md_escape(r['note'])}" for r in notes]
    out.append("")
    return "\n".join(out)


def main():
    base, control_base, outdir = sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/"), sys.argv[3]
    with open(os.path.join(outdir, "fixtures.json")) as f:
        fx = json.load(f)
    t = Target(base)
    root = os.path.join(outdir, "sqlmap")
    os.makedirs(root, exist_ok=True)
    targets = gatehouse_targets(t, fx)
    skipped = [x for x in targets if x.get("skip")]
    targets = [x for x in targets if not x.get("skip")]
    controls = control_targets()
    only = os.environ.get("GH_ATTACK_SQLMAP_ONLY")
    if only:
        targets = [x for x in targets if re.search(only, x["name"])]
        controls = [x for x in controls if re.search(only, x["name"])]
    slow = [x for x in targets if x["name"] in SLOW_TARGETS]
    rest = [x for x in targets if x["name"] not in SLOW_TARGETS]
    jobs = [(base, x) for x in slow] + [(control_base, c) for c in controls] + \
        [(base, x) for x in rest]
    print(f"sqlmap: {len(controls)} control and {len(targets)} gatehouse targets, "
          f"{JOBS} at a time", flush=True)
    results = {}
    deadline = time.monotonic() + BUDGET
    with concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as pool:
        futs = {pool.submit(run_one, b, x, root, deadline): x["name"] for b, x in jobs}
        for fut in concurrent.futures.as_completed(futs):
            r = fut.result()
            results[r["name"]] = r
            print(f"  [{'ok  ' if r['ok'] else 'FAIL'}] {r['name']}: {r['verdict']}, "
                  f"{len(r['tested'])} parameter(s), {r['nreq']} requests, {r['seconds']} s"
                  + ("" if not r["problems"] else " — " + "; ".join(r["problems"])), flush=True)
    ordered = [results[x["name"]] for x in controls + targets]
    with open(os.path.join(outdir, "sqlmap.md"), "w") as f:
        f.write(markdown(ordered, skipped, base, control_base))
    with open(os.path.join(outdir, "sqlmap.json"), "w") as f:
        json.dump(ordered, f, indent=1)
    return 0 if all(r["ok"] for r in ordered) else 1


if __name__ == "__main__":
    sys.exit(main())
