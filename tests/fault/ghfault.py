"""Shared helpers of the fault tests (Python 3 standard library only).

A gatehouse server in a throw-away data directory on 127.0.0.1:0 (the port is read from its
"listening" log line: a port picked in advance could be taken by another test on this machine
in the meantime, and a second gatehouse on a taken port refuses to start), a small HTTP client (a fresh connection per request), and
the CLI with the server's own environment. Nothing secret is printed: failures name the
operation, the status and the problem type, never a password or a token.
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

PASSWORD = "Vq7-larch-Mosaic-quill-4812"
PASSWORD2 = "Oak-lantern-Drift-9137-quorum"


class Failure(Exception):
    pass


def fail(msg):
    raise Failure(msg)


def base_env(data_dir):
    """The environment every fault test starts gatehouse with (plus its own additions)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GATEHOUSE_DATA_DIR": data_dir,
        "GATEHOUSE_LISTEN": "127.0.0.1:0",
        "GATEHOUSE_TEST_INSECURE_FAST_HASH": "1",
        "GATEHOUSE_LOG_LEVEL": "info",
    }
    # Sanitizer settings pass through (the ASan build reports leaks at exit).
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    # One client address sends everything: lift the per-address limits (the documented way
    # for test runs); lockout is not a rate limit and stays as configured.
    for rule in ("API", "LOGIN", "REGISTER", "REFRESH", "PASSWORD"):
        env[f"GATEHOUSE_RATELIMIT_{rule}_PER_MIN"] = "60000000"
        env[f"GATEHOUSE_RATELIMIT_{rule}_BURST"] = "1000000"
    return env


class Server:
    def __init__(self, binary, data_dir, log_path, env=None, wrapper=None):
        self.binary = binary
        self.data_dir = data_dir
        self.log_path = log_path
        self.env = base_env(data_dir)
        self.env.update(env or {})
        self.wrapper = wrapper or []
        self.proc = None
        self.port = None
        self.starts = 0

    # ---- lifecycle ----
    def start(self, timeout=20.0, extra_env=None):
        env = dict(self.env)
        env.update(extra_env or {})
        log = open(self.log_path, "ab")
        offset = log.tell()
        self.proc = subprocess.Popen(self.wrapper + [self.binary, "serve"], env=env,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self._port_from_log(offset)
            if port:
                self.port = port
                return self
            if self.proc.poll() is not None:
                fail(f"gatehouse exited with {self.proc.returncode} during start-up; "
                     f"log tail:\n{self.log_tail()}")
            time.sleep(0.02)
        fail(f"gatehouse did not report listening within {timeout}s; log tail:\n"
             f"{self.log_tail()}")

    def _port_from_log(self, offset):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return None
        for line in data.split(b"\n"):
            if b'"event":"listening"' in line:
                try:
                    return int(json.loads(line)["port"])
                except (ValueError, KeyError):
                    return None
        return None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait()
        self.proc = None

    def stop(self, timeout=30):
        """SIGTERM and wait: returns the exit status (negative: killed by that signal)."""
        if not self.proc:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail(f"gatehouse did not stop within {timeout}s of SIGTERM")
        self.proc = None
        return rc

    def log_tail(self, n=15):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def log_events(self, event):
        out = []
        with open(self.log_path, "rb") as f:
            for line in f:
                if f'"event":"{event}"'.encode() in line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        return out

    def cli(self, *args, stdin=None, timeout=60):
        env = dict(self.env)
        p = subprocess.run([self.binary, *args], env=env, input=stdin, capture_output=True,
                           timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), \
            p.stderr.decode("utf-8", "replace")

    # ---- HTTP ----
    def request(self, method, path, body=None, headers=None, timeout=15):
        """One request on a fresh connection → Resp. Connection errors raise OSError."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                hdrs.setdefault("Content-Type", "application/json")
            if isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return Resp(r.status, r.getheaders(), r.read())
        finally:
            conn.close()


class Resp:
    def __init__(self, status, headers, data):
        self.status = status
        self.headers = {}
        for k, v in headers:  # a repeated header (Set-Cookie) keeps every value, one a line
            k = k.lower()
            self.headers[k] = self.headers[k] + "\n" + v if k in self.headers else v
        self.data = data
        try:
            self.json = json.loads(data) if data else None
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())

    def problem_type(self):
        if isinstance(self.json, dict):
            return str(self.json.get("type", "")).rsplit(":", 1)[-1]
        return ""

    def is_unavailable(self):
        """A 503 problem+json with Retry-After, as the API documents."""
        return (self.status == 503
                and (self.header("content-type") or "").startswith("application/problem+json")
                and isinstance(self.json, dict) and self.json.get("status") == 503
                and self.header("retry-after") is not None)

    def describe(self):
        return f"{self.status} {self.problem_type() or ''}".strip()


# ---- the API calls the fault tests use ----
def register(srv, email, password=PASSWORD, **kw):
    return srv.request("POST", "/v1/users", {"email": email, "password": password,
                                              "display_name": "Fault Test"}, **kw)


def login(srv, email, password=PASSWORD, **kw):
    return srv.request("POST", "/v1/token", {"email": email, "password": password}, **kw)


def refresh(srv, rt, **kw):
    return srv.request("POST", "/v1/token/refresh", {"refresh_token": rt}, **kw)


def logout(srv, at, **kw):
    h = {"Authorization": f"Bearer {at}"}
    h.update(kw.pop("headers", {}) or {})
    return srv.request("POST", "/v1/logout", headers=h, **kw)


def me(srv, at, **kw):
    h = {"Authorization": f"Bearer {at}"}
    h.update(kw.pop("headers", {}) or {})
    return srv.request("GET", "/v1/me", headers=h, **kw)


def change_password(srv, at, current, new, **kw):
    h = {"Authorization": f"Bearer {at}"}
    h.update(kw.pop("headers", {}) or {})
    return srv.request("PUT", "/v1/me/password",
                       {"current_password": current, "new_password": new}, headers=h, **kw)


def form(d):
    return urllib.parse.urlencode(d)


def log(msg):
    print(msg, flush=True)


def main_guard(fn):
    """Run fn(); a Failure prints FAIL and exits 1."""
    t0 = time.monotonic()
    try:
        fn()
    except Failure as e:
        log(f"FAIL: {e}")
        sys.exit(1)
    log(f"PASS ({time.monotonic() - t0:.1f}s)")
