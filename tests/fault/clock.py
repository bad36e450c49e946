#!/usr/bin/env python3
"""The wall clock jumped forward and back (libfaketime): expired tokens stay expired, lockouts
are not reset.

gatehouse (the release build, seccomp sandbox on) runs with libfaketimeMT preloaded; its clock
offset is read from a file on every call (FAKETIME_TIMESTAMP_FILE + FAKETIME_NO_CACHE=1; the
sandbox allows the open/read this takes — checked below: the server logs sandbox_enabled and
survives), so the test moves the clock while the server runs. The monotonic clock is left alone
(FAKETIME_DONT_FAKE_MONOTONIC=1): a stepped wall clock is the fault under test.
Access tokens live 60 s, sessions end after 300 s idle, 3 failures lock for 600 s.

  1. [now]      alice signs in (access token A1, refresh token R1); bob's account gets locked;
  2. [now - 3h] the clock goes back: bob is still locked (the lock was not reset);
  3. [now]      bob is still locked;
  4. [now + 2h] moving forward expires tokens: A1 and R1 are refused; bob's 600 s lock has run
                out and he signs in — locks end by themselves;
  5. [now]      the clock goes back 2 h: A1 and R1, expired before the jump back, stay refused;
  6. SIGTERM: exit 0; `gatehouse audit verify` passes on the chain written under the moving
     clock.

Usage: clock.py BINARY WORKDIR
"""
import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ghfault import (PASSWORD, Server, fail, log, login, main_guard, me, refresh, register)

WRONG = "Not-the-password-7731-Heron"


def find_libfaketime():
    libs = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not libs:
        fail("libfaketime is not installed (apt-get install faketime)")
    return libs[0]


def run(binary, workdir):
    data = os.path.join(workdir, "data")
    os.makedirs(data, mode=0o700, exist_ok=True)
    clock_file = os.path.join(workdir, "faketime")

    def set_clock(offset):
        tmp = clock_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(offset + "\n")
        os.replace(tmp, clock_file)  # never a half-written offset

    set_clock("+0")
    srv = Server(binary, data, os.path.join(workdir, "server.log"), env={
        "LD_PRELOAD": find_libfaketime(),
        "FAKETIME_TIMESTAMP_FILE": clock_file,
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "GATEHOUSE_ACCESS_TOKEN_TTL": "60",
        "GATEHOUSE_SESSION_IDLE_TIMEOUT": "300",
        "GATEHOUSE_SESSION_MAX_LIFETIME": "300",
        "GATEHOUSE_LOCKOUT_THRESHOLD": "3",
        "GATEHOUSE_LOCKOUT_BASE_SECONDS": "600",
    })
    srv.start()
    try:
        if not srv.log_events("sandbox_enabled"):
            fail("the sandbox is not on under libfaketime: this test must run the release "
                 "build with GATEHOUSE_SANDBOX at its default")

        # 1. now
        for who in ("alice", "bob"):
            r = register(srv, f"{who}@example.com")
            if r.status != 201:
                fail(f"register {who} gave {r.describe()}")
        r = login(srv, "alice@example.com")
        if r.status != 200:
            fail(f"alice's login gave {r.describe()}")
        a1, r1 = r.json["access_token"], r.json["refresh_token"]
        if me(srv, a1).status != 200:
            fail("alice's fresh access token is refused")
        for i in range(3):
            r = login(srv, "bob@example.com", WRONG)
            if r.status != 401:
                fail(f"bob's wrong password #{i + 1} gave {r.describe()}")
        r = login(srv, "bob@example.com", PASSWORD)
        if r.status != 401:
            fail(f"bob's right password after 3 failures gave {r.describe()}: not locked")
        if not srv.log_events("account_locked"):
            fail("no account_locked event after 3 failures")

        # 2. the clock goes back 3 h: the lock holds
        set_clock("-3h")
        r = login(srv, "bob@example.com", PASSWORD)
        if r.status != 401:
            fail(f"moving the clock back 3 h reset bob's lock: his login gave {r.describe()}")

        # 3. back to now: still locked
        set_clock("+0")
        r = login(srv, "bob@example.com", PASSWORD)
        if r.status != 401:
            fail(f"bob's lock ended early after the clock came back: {r.describe()}")

        # 4. forward 2 h: tokens expire, the lock runs out
        set_clock("+2h")
        r = me(srv, a1)
        if r.status != 401:
            fail(f"2 h later the 60 s access token is still accepted ({r.describe()})")
        r = refresh(srv, r1)
        if r.status != 401:
            fail(f"2 h later the refresh token of a session idle for 2 h still works "
                 f"({r.describe()})")
        r = login(srv, "bob@example.com", PASSWORD)
        if r.status != 200:
            fail(f"2 h later bob's 600 s lock has not ended: {r.describe()}")

        # 5. the clock goes back 2 h: what expired stays expired
        set_clock("+0")
        r = me(srv, a1)
        if r.status != 401:
            fail(f"after the clock went back 2 h, an access token that had expired is accepted "
                 f"again ({r.describe()})")
        r = refresh(srv, r1)
        if r.status != 401:
            fail(f"after the clock went back 2 h, the refresh token of a session that had "
                 f"expired works again ({r.describe()})")
        r = srv.request("GET", "/healthz")
        if r.status != 200:
            fail(f"/healthz gave {r.describe()}")
    except BaseException:
        srv.kill9()
        log(f"server log tail:\n{srv.log_tail(10)}")
        raise

    # 6. a clean stop, and the audit chain written under the moving clock verifies
    rc = srv.stop()
    if rc != 0:
        fail(f"SIGTERM under libfaketime: exit {rc}; log tail:\n{srv.log_tail()}")
    rc, out, err = srv.cli("audit", "verify")
    if rc != 0:
        fail(f"audit verify exited {rc}:\n{out[-1500:]}{err[-1500:]}")
    log("forward 2 h: tokens expired; back 2 h: they stayed expired; back 3 h: the lock held; "
        "the lock ended by itself; the sandbox stayed on under libfaketime; the audit chain "
        "verifies")


if __name__ == "__main__":
    main_guard(lambda: run(sys.argv[1], sys.argv[2]))
