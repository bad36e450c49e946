#!/usr/bin/env python3
"""The database on a full disk (a small tmpfs): writes get 503, nothing is acknowledged that
was not stored, reads go on, and writes recover without a restart when space returns.

  1. mount a 16 MiB tmpfs (needs root: CI runs as root; if the mount is refused the test FAILS,
     it does not skip), serve from it, and set up accounts and sessions;
  2. fill the file system to the last byte, then run every kind of write — register, login,
     refresh, logout, password change — until each kind has been refused at least once. Each
     answer must be the operation's success or 503 problem+json with Retry-After (never a 500,
     a 401 for good credentials, a dropped connection), and the process must live on. Reads
     (/v1/me with an existing token, the JWKS, /healthz, /readyz) keep answering 200;
  3. free the space: without a restart, writes succeed again within a few seconds;
  4. everything acknowledged while the disk was full (and before) is there: accounts sign in
     with their acknowledged password (and not with the replaced one), rotated-away and revoked
     tokens are refused, live sessions' tokens are accepted — and a 503 meant "not done": a
     refused registration's email registers afresh, a refused rotation's token still rotates;
  5. the same after a clean restart, and `gatehouse audit verify` passes.

Usage: disk_full.py BINARY WORKDIR
"""
import base64
import errno
import http.client
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ghfault import (PASSWORD, Failure, Server, change_password, fail, log, login, logout,
                     main_guard, me, refresh, register)

SIZE = "16m"
STEPS = 8             # times a little space comes back while the disk is full
SLACK = 64 * 1024     # bytes it is
KINDS = ("register", "login", "refresh", "logout", "password")


def pw(i):
    return f"Disk-full-{i:04d}-Quartz-lantern"


class State:
    def __init__(self, srv):
        self.srv = srv
        self.users = {}        # email → acknowledged password
        self.old_pw = {}       # email → password replaced by an acknowledged change
        self.live = []         # (email, at, rt) acknowledged and untouched since
        self.dead_rt = []      # rotated away or revoked: refused forever
        self.dead_at = []      # access tokens of revoked sessions
        self.refused_emails = []   # registrations answered 503
        self.refused_rotations = []  # (email, at, rt) whose rotation was answered 503
        self.seq = 0
        self.acked = dict.fromkeys(KINDS, 0)
        self.phase = "set-up"
        self.refused = dict.fromkeys(KINDS, 0)

    def email(self):
        self.seq += 1
        return f"disk-{self.seq}@example.com"


def answer(r, ok, what, st, kind):
    """The success status or 503 problem+json; True when acknowledged."""
    if r.status == ok:
        st.acked[kind] += 1
        return True
    if r.is_unavailable():
        st.refused[kind] += 1
        return False
    fail(f"{what} on a full disk gave {r.describe()} (expected {ok} or 503 problem+json with "
         f"Retry-After)")


def one_write(st, kind, full):
    """One write of this kind; returns True when acknowledged."""
    srv = st.srv
    if kind == "register":
        email = st.email()
        r = register(srv, email, PASSWORD)
        if answer(r, 201, "register", st, kind):
            st.users[email] = PASSWORD
            return True
        st.refused_emails.append(email)
        return False
    if kind == "login":
        email = min(st.users, key=lambda e: sum(1 for x in st.live if x[0] == e))
        r = login(srv, email, st.users[email])
        if answer(r, 200, "login", st, kind):
            st.live.append((email, r.json["access_token"], r.json["refresh_token"]))
            return True
        return False
    if len(st.live) < 8:
        # Writes acknowledged on a "full" disk (the WAL reuses its space after a checkpoint)
        # use sessions up: sign in again (itself a write that may be refused).
        one_write(st, "login", full)
        if not st.live:
            return False
    if kind == "refresh":
        email, at, rt = st.live.pop(0)
        r = refresh(srv, rt)
        if answer(r, 200, "refresh", st, kind):
            st.dead_rt.append(rt)
            st.live.append((email, r.json["access_token"], r.json["refresh_token"]))
            return True
        if len(st.refused_rotations) < 12:  # checked after recovery: was it really not done?
            st.refused_rotations.append((email, at, rt))
        else:
            st.live.append((email, at, rt))
        return False
    if kind == "logout":
        email, at, rt = st.live.pop(0)
        r = logout(srv, at)
        if answer(r, 204, "logout", st, kind):
            st.dead_at.append((at, f"logout #{st.acked['logout']} ({st.phase})"))
            st.dead_rt.append(rt)
            return True
        st.live.append((email, at, rt))  # still live (checked later)
        return False
    if kind == "password":
        # The session of the account with the fewest others: they all end with the change.
        i = min(range(len(st.live)),
                key=lambda j: sum(1 for x in st.live if x[0] == st.live[j][0]))
        email, at, rt = st.live.pop(i)
        new = pw(st.seq + 1000)
        st.seq += 1
        r = change_password(srv, at, st.users[email], new)
        if answer(r, 204, "password change", st, kind):
            st.old_pw[email] = st.users[email]
            st.users[email] = new
            # every other session of the user is revoked with it
            keep = []
            for s in st.live:
                if s[0] == email:
                    st.dead_at.append((s[1], f"password change #{st.acked['password']} "
                                                f"({st.phase})"))
                    st.dead_rt.append(s[2])
                else:
                    keep.append(s)
            st.live = keep + [(email, at, rt)]
            for s in [s for s in st.refused_rotations if s[0] == email]:
                st.refused_rotations.remove(s)
                st.dead_at.append((s[1], f"password change #{st.acked['password']} "
                                         f"({st.phase})"))
                st.dead_rt.append(s[2])
            return True
        st.live.append((email, at, rt))
        return False
    raise AssertionError(kind)


def exit_text(rc):
    if rc is not None and rc < 0:
        return f"killed by {signal.Signals(-rc).name}"
    return f"exit {rc}"


def reads_work(srv, at, when):
    for what, r in (("GET /healthz", srv.request("GET", "/healthz")),
                    ("GET /readyz", srv.request("GET", "/readyz")),
                    ("GET /.well-known/jwks.json", srv.request("GET", "/.well-known/jwks.json")),
                    ("GET /v1/me", me(srv, at))):
        if r.status != 200:
            fail(f"{what} {when} gave {r.describe()}")


def fill(path):
    """Write until the file system has no byte left; returns the bytes written."""
    total = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 16, 4096, 512, 1):
            buf = b"\0" * chunk
            while True:
                try:
                    f.write(buf)
                    total += chunk
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    return total


def session_row(srv, at):
    """What the database holds about an access token's session (for a failure message)."""
    try:
        payload = at.split(".")[1]
        sid = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]
        db = os.path.join(srv.data_dir, "gatehouse.db")
        p = subprocess.run(["sqlite3", db, "SELECT revoked_at, revoke_reason FROM sessions "
                            f"WHERE id = '{sid}'"], capture_output=True, text=True, timeout=10)
        return f"its session in the database: revoked_at|reason = {p.stdout.strip() or 'no row'}"
    except (OSError, ValueError, KeyError, IndexError, subprocess.SubprocessError) as e:
        return f"(its session row could not be read: {e})"


def verify(st, when):
    srv = st.srv
    for email, p in st.users.items():
        r = login(srv, email, p)
        if r.status != 200:
            fail(f"{when}: acknowledged account {email} cannot sign in ({r.describe()})")
        st.live.append((email, r.json["access_token"], r.json["refresh_token"]))
        if email in st.old_pw:
            r = login(srv, email, st.old_pw[email])
            if r.status != 401:
                fail(f"{when}: {email}'s password from before an acknowledged change still "
                     f"works ({r.describe()})")
    for at, by in st.dead_at:
        r = me(srv, at)
        if r.status != 401:
            fail(f"{when}: the access token of a session revoked by an acknowledged {by} is "
                 f"accepted ({r.describe()}); {session_row(srv, at)}")
    for rt in st.dead_rt:
        r = refresh(srv, rt)
        if r.status != 401:
            fail(f"{when}: a rotated-away or revoked refresh token works ({r.describe()})")
    # Live sessions (never rotated away: presenting dead tokens revoked only their families).
    for email, at, rt in list(st.live):
        r = me(srv, at)
        if r.status not in (200, 401):
            fail(f"{when}: GET /v1/me gave {r.describe()}")
    rc, out, err = srv.cli("audit", "verify")
    if rc != 0:
        fail(f"{when}: audit verify exited {rc}:\n{out[-1500:]}{err[-1500:]}")


def run(binary, workdir):
    mnt = os.path.join(workdir, "mnt")
    os.makedirs(mnt, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", mnt],
                       capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"cannot mount a {SIZE} tmpfs at {mnt} (the test needs root, as in CI): "
             f"{p.stderr.strip()}")
    srv = None
    try:
        data = os.path.join(mnt, "data")
        os.makedirs(data, mode=0o700)
        srv = Server(binary, data, os.path.join(workdir, "server.log"),
                     env={"GATEHOUSE_HTTP_THREADS": "2"})
        srv.start()
        st = State(srv)
        # 1. set-up: accounts and sessions, on a disk with room
        # Many sessions over many accounts: refused rotations and acknowledged logouts use
        # sessions up, and a password change ends all its account's other sessions.
        for i in range(24):
            email = st.email()
            r = register(srv, email, PASSWORD)
            if r.status != 201:
                fail(f"set-up: register gave {r.describe()}")
            st.users[email] = PASSWORD
        for email in list(st.users) * 4:
            r = login(srv, email, PASSWORD)
            if r.status != 200:
                fail(f"set-up: login gave {r.describe()}")
            st.live.append((email, r.json["access_token"], r.json["refresh_token"]))
        # The reader: an account no write below touches (a password change would end its
        # session, as it should).
        r = register(srv, "disk-reader@example.com", PASSWORD)
        reader = login(srv, "disk-reader@example.com", PASSWORD)
        if r.status != 201 or reader.status != 200:
            fail(f"set-up: the reader gave {r.describe()}, {reader.describe()}")
        reader_at = reader.json["access_token"]

        # 2. the disk full — then, a few times, a little space comes and goes again, so that
        # writes are acknowledged right up to the edge and refused past it
        filler = os.path.join(mnt, "filler")
        written = fill(filler)
        st.phase = "disk full"
        t0 = time.monotonic()
        rounds = 0
        for step in range(STEPS + 1):
            if step > 0:
                written -= SLACK
                os.truncate(filler, written)
            refused = dict(st.refused)
            while any(st.refused[k] == refused[k] for k in KINDS):
                rounds += 1
                if rounds > 1000:
                    fail(f"the disk is full yet not every kind of write was refused after "
                         f"1000 rounds: refused {st.refused}, acknowledged {st.acked}")
                for kind in KINDS[rounds % 5:] + KINDS[:rounds % 5]:  # each kind goes first
                    try:
                        one_write(st, kind, True)
                    except (OSError, http.client.HTTPException) as e:
                        time.sleep(0.5)
                        if not srv.alive():
                            fail(f"the process died on a full disk during a {kind} "
                                 f"({exit_text(srv.proc.returncode)})")
                        fail(f"{kind} on a full disk: no answer ({type(e).__name__})")
                    if not srv.alive():
                        fail(f"the process died on a full disk after a {kind} "
                             f"({exit_text(srv.proc.returncode)})")
            reads_work(srv, reader_at, "on a full disk")
        log(f"  full disk, {STEPS} times {SLACK // 1024} KiB freed and filled again by writes: "
            f"{rounds} rounds of writes in {time.monotonic() - t0:.1f}s; acknowledged "
            f"{st.acked}, refused with 503 {st.refused}")

        # 3. space returns: writes work again, no restart
        os.remove(filler)
        st.phase = "space back"
        t0 = time.monotonic()
        while True:
            email = st.email()
            r = register(srv, email, PASSWORD)
            if r.status == 201:
                st.users[email] = PASSWORD
                break
            if not r.is_unavailable():
                fail(f"register after space returned gave {r.describe()}")
            st.refused_emails.append(email)
            if time.monotonic() - t0 > 10:
                fail("writes still refused 10 s after space returned")
            time.sleep(0.1)
        recovered = time.monotonic() - t0
        # A 503 meant "not done": a refused registration's email registers afresh, a refused
        # rotation's token still rotates (a client that retries it is not taken for a thief).
        for email in st.refused_emails:
            r = register(srv, email, PASSWORD)
            if r.status != 201:
                fail(f"a registration answered 503 was stored after all: registering "
                     f"{email} again gave {r.describe()}")
            st.users[email] = PASSWORD
        refused_rotations = len(st.refused_rotations)
        for email, at, rt in st.refused_rotations:
            r = refresh(srv, rt)
            if r.status != 200:
                fail(f"a rotation answered 503 happened after all: the refresh token "
                     f"gives {r.describe()}")
            st.dead_rt.append(rt)
            st.live.append((email, r.json["access_token"], r.json["refresh_token"]))
        st.refused_rotations = []  # rotated now: their sessions are live ones like any other
        ok = dict.fromkeys(KINDS, 0)
        for _ in range(3):
            for kind in KINDS:
                before = st.acked[kind]
                one_write(st, kind, False)
                if st.acked[kind] == before:
                    fail(f"{kind} refused after space returned")
                ok[kind] += 1
        log(f"  space back: writes accepted again after {recovered:.2f}s, without a restart")

        # 4. nothing acknowledged is missing
        verify(st, "after space returned")

        # 5. and after a clean restart
        rc = srv.stop()
        if rc != 0:
            fail(f"SIGTERM: exit {rc}; log tail:\n{srv.log_tail()}")
        srv.start()
        verify(st, "after a restart")
        rc = srv.stop()
        if rc != 0:
            fail(f"SIGTERM after the restart: exit {rc}")
        log(f"  {len(st.users)} accounts, {len(st.dead_rt)} dead refresh tokens, "
            f"{len(st.dead_at)} revoked access tokens checked after recovery and after a "
            f"restart; {len(st.refused_emails)} refused registrations and "
            f"{refused_rotations} refused rotations were indeed not done")
    except Failure:
        if srv:
            log(f"server log tail:\n{srv.log_tail(20)}")
        raise
    finally:
        if srv:
            srv.kill9()
        subprocess.run(["umount", mnt], capture_output=True)


if __name__ == "__main__":
    main_guard(lambda: run(sys.argv[1], sys.argv[2]))
