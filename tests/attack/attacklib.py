"""Shared helpers of the attack suite (Python 3 standard library only).

HTTP through http.client for well-formed requests, raw sockets for the bytes curl and
http.client refuse to send (CR/LF in header values, NUL, oversize request lines), and a small
result table that every stage writes as a Markdown fragment for OUTDIR/report.md.
"""
import base64
import http.client
import json
import os
import socket
import time


class Target:
    def __init__(self, base):
        # base: http://127.0.0.1:PORT
        hostport = base.split("://", 1)[1].rstrip("/")
        self.base = base.rstrip("/")
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)

    def request(self, method, path, body=None, headers=None, timeout=10):
        """One request on a fresh connection → (status, [(name, value)], body bytes)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            if isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    def json(self, method, path, obj=None, headers=None, timeout=10):
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        body = json.dumps(obj) if obj is not None else None
        status, h, data = self.request(method, path, body, hdrs, timeout)
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return status, h, parsed

    def raw(self, payload, timeout=10, shut_write=False, max_bytes=1 << 20):
        """Send raw bytes, read until the server closes or `timeout` → bytes received.

        Returns (data, error) where error is None, "timeout" or "reset"."""
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        data = b""
        err = None
        try:
            try:
                s.sendall(payload)
            except (BrokenPipeError, ConnectionResetError):
                err = "reset-on-send"
            if shut_write:
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            deadline = time.monotonic() + timeout
            while len(data) < max_bytes:
                s.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    err = err or "timeout"
                    break
                except ConnectionResetError:
                    err = err or "reset"
                    break
                if not chunk:
                    break
                data += chunk
                # One response is enough: stop when headers + Content-Length body are in.
                if b"\r\n\r\n" in data:
                    head, _, rest = data.partition(b"\r\n\r\n")
                    cl = header_value(parse_head(head)[1], "content-length")
                    if cl is not None and len(rest) >= int(cl):
                        break
        finally:
            s.close()
        return data, err

    def healthy(self, timeout=2.0):
        try:
            status, _, _ = self.request("GET", "/healthz", timeout=timeout)
            return status == 200
        except OSError:
            return False


def parse_head(head):
    """b"HTTP/1.1 200 OK\\r\\nA: b..." → (status or None, [(name, value)])."""
    lines = head.split(b"\r\n")
    status = None
    parts = lines[0].split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        status = int(parts[1])
    headers = []
    for line in lines[1:]:
        if b":" in line:
            n, v = line.split(b":", 1)
            headers.append((n.decode("latin-1").strip(), v.decode("latin-1").strip()))
        elif line:
            headers.append(("<malformed>", line.decode("latin-1")))
    return status, headers


def parse_response(data):
    """Raw bytes of one response → (status, headers, body) (status None if unparsable)."""
    head, _, body = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    return status, headers, body


def header_value(headers, name):
    for n, v in headers:
        if n.lower() == name.lower():
            return v
    return None


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    s = s + "=" * (-len(s) % 4)
    return base64.urlsafe_b64decode(s.encode())


def load_fixtures(outdir):
    with open(os.path.join(outdir, "fixtures.json")) as f:
        return json.load(f)


def md_escape(s):
    s = str(s)
    return s.replace("|", "\\|").replace("\n", " ").replace("\r", " ")


KNOWN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "known-findings.txt")


def known_findings():
    """known-findings.txt: `stage | start of the check's name | finding` per line; # comments.
    A listed check that fails is reported as a known (open) finding and does not fail the run;
    remove the line once the server is fixed (the report says when it no longer reproduces)."""
    out = []
    if os.path.exists(KNOWN_PATH):
        for line in open(KNOWN_PATH, encoding="utf-8"):
            line = line.strip()
            if line and not line.startswith("#"):
                parts = [x.strip() for x in line.split("|", 2)]
                if len(parts) == 3:
                    out.append(tuple(parts))
    return out


class Results:
    """Rows of (check, expected, got, verdict) → a Markdown section; exit code for the stage."""

    def __init__(self, title, intro="", key=""):
        self.title = title
        self.intro = intro
        self.key = key
        self.rows = []
        self.notes = []
        self.known = [k for k in known_findings() if k[0] == key]

    def add(self, check, expected, got, ok, advisory=False):
        """advisory: a deviation from a standard that is not a vulnerability; it is reported
        (verdict "advisory", listed under findings) but does not fail the run."""
        known = next((k for k in self.known if check.startswith(k[1])), None)
        if ok:
            verdict = "pass"
        elif advisory:
            verdict = "advisory"
        elif known:
            verdict = "known"
            got = f"{got} — {known[2]}"
        else:
            verdict = "FAIL"
        self.rows.append((check, expected, got, verdict))
        mark = {"pass": "ok  ", "advisory": "ADV ", "known": "KNWN", "FAIL": "FAIL"}[verdict]
        print(f"  [{mark}] {check}: expected {expected}, got {got}", flush=True)
        return ok

    def note(self, text):
        self.notes.append(text)

    @property
    def failures(self):
        return [r for r in self.rows if r[3] == "FAIL"]

    @property
    def advisories(self):
        return [r for r in self.rows if r[3] == "advisory"]

    @property
    def knowns(self):
        return [r for r in self.rows if r[3] == "known"]

    def markdown(self):
        out = [f"## {self.title}", ""]
        if self.intro:
            out += [self.intro, ""]
        n = len(self.rows)
        adv, kn = len(self.advisories), len(self.knowns)
        out.append(f"{n - len(self.failures) - adv - kn}/{n} checks passed, "
                   f"{len(self.failures)} failed, {kn} known open finding(s), {adv} advisory.")
        out.append("")
        out.append("| check | expected | got | verdict |")
        out.append("|---|---|---|---|")
        for check, exp, got, verdict in self.rows:
            shown = {"pass": "pass", "advisory": "*advisory*", "known": "**known finding**",
                     "FAIL": "**FAIL**"}[verdict]
            out.append(f"| {md_escape(check)} | {md_escape(exp)} | {md_escape(got)} | {shown} |")
        notes = list(self.notes)
        for _, prefix, finding in self.known:
            rows = [r for r in self.rows if r[0].startswith(prefix)]
            if rows and not any(r[3] == "known" for r in rows):
                notes.append(f"known finding '{finding}' no longer reproduces: remove its line "
                             "from tests/attack/known-findings.txt")
        if notes:
            out.append("")
            out += [f"- {md_escape(n)}" for n in notes]
        out.append("")
        return "\n".join(out)

    def write(self, outdir, name):
        with open(os.path.join(outdir, f"{name}.md"), "w") as f:
            f.write(self.markdown())
        with open(os.path.join(outdir, f"{name}.json"), "w") as f:
            json.dump({"title": self.title, "rows": self.rows}, f, indent=1)
        return 1 if self.failures else 0
