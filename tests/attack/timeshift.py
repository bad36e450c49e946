#!/usr/bin/env python3
"""Mint one access token on a gatehouse whose clock is shifted (run.sh starts it under
faketime on the same data directory, so the token is signed by the real signing key).

Usage: timeshift.py BASE_URL EMAIL PASSWORD OFFSET_SECONDS   → prints the access token, after
checking that its iat really is OFFSET_SECONDS away from now (libfaketime took effect).
"""
import json
import sys
import time

from attacklib import Target, b64url_decode


def main():
    t = Target(sys.argv[1])
    email, pw = sys.argv[2], sys.argv[3]
    st, _, body = t.json("POST", "/v1/users", {"email": email, "password": pw})
    if st not in (201, 409):
        raise SystemExit(f"timeshift: register gave {st} {body}")
    st, _, body = t.json("POST", "/v1/token", {"email": email, "password": pw})
    if st != 200:
        raise SystemExit(f"timeshift: login gave {st} {body}")
    token = body["access_token"]
    claims = json.loads(b64url_decode(token.split(".")[1]))
    offset = int(sys.argv[4])
    drift = claims["iat"] - (time.time() + offset)
    if abs(drift) > 300:
        raise SystemExit(f"timeshift: iat is {claims['iat'] - time.time():+.0f} s from now, "
                         f"expected {offset:+d} s (libfaketime not in effect?)")
    print(token)


if __name__ == "__main__":
    main()
