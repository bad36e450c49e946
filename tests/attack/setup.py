#!/usr/bin/env python3
"""Create the accounts and tokens the attack stages use → OUTDIR/fixtures.json.

Usage: setup.py BASE_URL OUTDIR
Environment: GH_ATTACK_ADMIN_EMAIL / GH_ATTACK_ADMIN_PASSWORD (an admin made by run.sh with
`gatehouse users create-admin`), GH_ATTACK_PASSWORD (the password of every account here).
"""
import json
import os
import sys

from attacklib import Target


def register_and_login(t, email, password, display_name="Attack Suite"):
    status, _, body = t.json("POST", "/v1/users",
                             {"email": email, "password": password, "display_name": display_name})
    if status not in (201, 409):
        raise SystemExit(f"setup: registering {email} gave {status} {body}")
    return login(t, email, password)


def login(t, email, password):
    status, _, body = t.json("POST", "/v1/token", {"email": email, "password": password})
    if status != 200:
        raise SystemExit(f"setup: login of {email} gave {status} {body}")
    s2, _, me = t.json("GET", "/v1/me", headers={"Authorization": "Bearer " + body["access_token"]})
    if s2 != 200:
        raise SystemExit(f"setup: /v1/me for {email} gave {s2}")
    return {"email": email, "password": password, "id": me["id"],
            "access_token": body["access_token"], "refresh_token": body["refresh_token"],
            "device_token": body.get("device_token", "")}


def main():
    base, outdir = sys.argv[1], sys.argv[2]
    t = Target(base)
    pw = os.environ["GH_ATTACK_PASSWORD"]
    fx = {"base": base, "password": pw}
    fx["main"] = register_and_login(t, "attack-main@example.com", pw)
    fx["probe"] = register_and_login(t, "attack-probe@example.com", pw)
    fx["victim"] = register_and_login(t, "attack-victim@example.com", pw)
    status, _, jwks = t.json("GET", "/.well-known/jwks.json")
    if status != 200 or not jwks.get("keys"):
        raise SystemExit(f"setup: JWKS gave {status}")
    fx["jwks"] = jwks
    aemail = os.environ.get("GH_ATTACK_ADMIN_EMAIL")
    if aemail:
        fx["admin"] = login(t, aemail, os.environ["GH_ATTACK_ADMIN_PASSWORD"])
    with open(os.path.join(outdir, "fixtures.json"), "w") as f:
        json.dump(fx, f, indent=1)
    os.chmod(os.path.join(outdir, "fixtures.json"), 0o600)
    print("setup: accounts main, probe, victim" + (", admin" if aemail else "") + " ready")


if __name__ == "__main__":
    main()
