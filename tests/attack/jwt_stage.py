#!/usr/bin/env python3
"""JWT forgeries against every place an access token is accepted.

Usage: jwt_stage.py GATEHOUSE_URL OUTDIR     → OUTDIR/jwt.md, exit 1 on any acceptance.

Each forged token goes to GET /v1/me (Bearer, and as the gh_session cookie), GET /v1/auth/check
and POST /v1/introspect; all must refuse (401 / {"active": false}). The genuine token is sent
first: it must be accepted everywhere, or the refusals prove nothing. Tokens the attacker signs
use a real Ed25519 key of its own (tests/attack/ed25519.py), served from a local jku/x5u URL
whose hits are counted (the server must never fetch it). Expired and not-yet-valid tokens with a
*valid* signature come from OUTDIR/timeshift.json, minted by run.sh with the same signing key
on a gatehouse started under faketime (-2 h and +1 h).
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import sys
import threading
import urllib.parse

import ed25519
from attacklib import Results, Target, b64url, b64url_decode, header_value, load_fixtures

L = 2**252 + 27742317777372353535851937790883648493


class Hits(http.server.BaseHTTPRequestHandler):
    hits = []
    jwks = b"{}"

    def log_message(self, *a):
        pass

    def do_GET(self):
        Hits.hits.append(self.path)
        body = Hits.jwks
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def enc(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def forge(fx, timeshift, atk_url):
    tok = fx["main"]["access_token"]
    h0, p0, s0 = tok.split(".")
    H = json.loads(b64url_decode(h0))
    P = json.loads(b64url_decode(p0))
    sig = b64url_decode(s0)
    jwk = fx["jwks"]["keys"][0]
    pub_raw = b64url_decode(jwk["x"])
    atk_sk = hashlib.sha256(b"gatehouse attack suite key").digest()
    atk_pub = ed25519.public_key(atk_sk)
    atk_jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(atk_pub), "kid": "attacker",
               "use": "sig", "alg": "EdDSA"}
    Hits.jwks = json.dumps({"keys": [atk_jwk]}).encode()
    victim = fx["victim"]["id"]

    def atk(hdr, pl):  # validly signed by the attacker's own key
        si = f"{enc(hdr)}.{enc(pl)}".encode()
        return si.decode() + "." + b64url(ed25519.sign(atk_sk, si))

    def atk_raw(header_text, pl):  # attacker-signed, header JSON given verbatim
        si = b64url(header_text.encode()) + "." + enc(pl)
        return si + "." + b64url(ed25519.sign(atk_sk, si.encode()))

    def hs(alg, key, hdr=None, pl=None):
        hdr = dict(hdr or H, alg=alg)
        si = f"{enc(hdr)}.{enc(pl or P)}".encode()
        dig = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        return si.decode() + "." + b64url(hmac.new(key, si, dig).digest())

    Pv = dict(P, sub=victim)
    Pa = dict(P, admin=True, exp=P["exp"] + 86400 * 365)
    out = []

    def add(name, token, why):
        out.append((name, token, why))

    for alg in ("none", "None", "NONE", "nOnE"):
        add(f"alg {alg}, no signature", f"{enc(dict(H, alg=alg))}.{p0}.", "unsigned")
    add("alg none, original signature kept", f"{enc(dict(H, alg='none'))}.{p0}.{s0}", "unsigned")
    add("alg none, no kid, sub=victim", f"{enc({'alg': 'none', 'typ': 'at+jwt'})}.{enc(Pv)}.",
        "unsigned")
    add("HS256 keyed with the JWKS public key (raw 32 bytes)", hs("HS256", pub_raw),
        "alg confusion")
    add("HS256 keyed with the JWKS x (base64url text)", hs("HS256", jwk["x"].encode()),
        "alg confusion")
    add("HS256 keyed with the JWK JSON", hs("HS256", json.dumps(jwk).encode()), "alg confusion")
    add("HS384 keyed with the public key", hs("HS384", pub_raw), "alg confusion")
    add("HS512 keyed with the public key, sub=victim", hs("HS512", pub_raw, pl=Pv),
        "alg confusion")
    add("HS256 keyed with the empty key", hs("HS256", b""), "alg confusion")
    add("RS256 header, original signature", f"{enc(dict(H, alg='RS256'))}.{p0}.{s0}", "alg")
    add("ES256 header, original signature", f"{enc(dict(H, alg='ES256'))}.{p0}.{s0}", "alg")
    add("Ed25519 (not EdDSA) header, original signature",
        f"{enc(dict(H, alg='Ed25519'))}.{p0}.{s0}", "alg")
    add("real kid, signed by the attacker's key", atk(H, P), "wrong key")
    add("real kid, attacker-signed, sub=victim", atk(H, Pv), "wrong key")
    add("unknown kid, attacker-signed", atk(dict(H, kid="attacker"), P), "unknown kid")
    add("kid missing, attacker-signed", atk({"alg": "EdDSA", "typ": "at+jwt"}, P), "no kid")
    add("kid empty, attacker-signed", atk(dict(H, kid=""), P), "unknown kid")
    add("kid SQL injection, attacker-signed", atk(dict(H, kid="x' OR '1'='1"), P),
        "kid injection")
    add("kid path traversal, attacker-signed", atk(dict(H, kid="../../../../dev/null"), P),
        "kid injection")
    add("kid as number, attacker-signed", atk(dict(H, kid=0), P), "kid type")
    add("jwk header = attacker key, attacker-signed", atk(dict(H, kid="attacker", jwk=atk_jwk), P),
        "embedded jwk")
    add("jwk header = attacker key under the real kid", atk(dict(H, jwk=atk_jwk), P),
        "embedded jwk")
    add("jku header → attacker JWKS, attacker-signed",
        atk(dict(H, kid="attacker", jku=atk_url + "/jwks.json"), P), "jku")
    add("x5u header → attacker URL, attacker-signed",
        atk(dict(H, kid="attacker", x5u=atk_url + "/cert.pem"), P), "x5u")
    add("x5c header, attacker-signed", atk(dict(H, x5c=["MIIBIjANBgkqhkiG9w0BAQEFAAOC"]), P), "x5c")
    add("crit header, attacker-signed", atk(dict(H, crit=["exp"]), P), "crit")
    add("typ JWT, attacker-signed", atk(dict(H, typ="JWT"), P), "typ")
    add("duplicate alg in header JSON, attacker-signed",
        atk_raw('{"alg":"EdDSA","kid":"%s","typ":"at+jwt","alg":"none"}' % H["kid"], P),
        "dup keys")
    add("payload sub=victim, original signature", f"{h0}.{enc(Pv)}.{s0}", "tampered")
    add("payload admin:true and exp+1y, original signature", f"{h0}.{enc(Pa)}.{s0}", "tampered")
    add("payload exp+1y, original signature", f"{h0}.{enc(dict(P, exp=P['exp'] + 31536000))}.{s0}",
        "tampered")
    add("signature stripped (h.p.)", f"{h0}.{p0}.", "unsigned")
    add("two segments (h.p)", f"{h0}.{p0}", "malformed")
    add("truncated by 1 character", tok[:-1], "truncated")
    add("truncated by 20 characters", tok[:-20], "truncated")
    add("truncated to half", tok[: len(tok) // 2], "truncated")
    add("signature all zero", f"{h0}.{p0}.{b64url(bytes(64))}", "bad sig")
    flipped = bytearray(sig)
    flipped[10] ^= 1
    add("signature one bit flipped", f"{h0}.{p0}.{b64url(bytes(flipped))}", "bad sig")
    s_int = int.from_bytes(sig[32:], "little") + L
    if s_int < 2**256:
        add("signature malleated (S+L, non-canonical)",
            f"{h0}.{p0}.{b64url(sig[:32] + s_int.to_bytes(32, 'little'))}", "malleability")
    add("four segments", f"{tok}.{s0}", "malformed")
    add("JWE-like five segments", f"{h0}.{p0}.{s0}.{s0}.{s0}", "malformed")
    add("header not JSON", f"{b64url(b'not json')}.{p0}.{s0}", "malformed")
    add("payload not JSON", f"{h0}.{b64url(b'not json')}.{s0}", "malformed")
    add("header with NUL byte in kid", f"{b64url(json.dumps(dict(H, kid=H['kid'] + chr(0))).encode())}"
        f".{p0}.{s0}", "malformed")
    add("huge header (4 KiB member), attacker-signed", atk(dict(H, pad="A" * 4096), P), "size")
    add("huge header (60 KiB member), attacker-signed", atk(dict(H, pad="A" * 61440), P), "size")
    add("refresh token as Bearer", fx["main"]["refresh_token"], "wrong token kind")
    add("device token as Bearer", fx["main"]["device_token"], "wrong token kind")
    if timeshift:
        add("expired 90 min ago, valid signature (faketime -2h)", timeshift["expired"], "exp")
        add("iat 1 h in the future, valid signature (faketime +1h)", timeshift["future"], "iat")
    if fx.get("revoked_access_token"):
        add("access token of a logged-out session", fx["revoked_access_token"], "revoked")
    return out


def normal_body(data):
    try:
        o = json.loads(data)
    except ValueError:
        return data[:200]
    if isinstance(o, dict):
        o.pop("request_id", None)
    return json.dumps(o, sort_keys=True)


def main():
    base, outdir = sys.argv[1], sys.argv[2]
    t = Target(base)
    fx = load_fixtures(outdir)
    cred = os.environ.get("GH_ATTACK_INTROSPECT_CRED", "rs:attack-suite-introspection-secret")
    basic = "Basic " + base64.b64encode(cred.encode()).decode()
    ts_path = os.path.join(outdir, "timeshift.json")
    timeshift = json.load(open(ts_path)) if os.path.exists(ts_path) else None

    # A revoked session's access token.
    st, _, body = t.json("POST", "/v1/token", {"email": fx["main"]["email"],
                                               "password": fx["password"]})
    if st == 200:
        t.request("POST", "/v1/logout", headers={"Authorization": "Bearer " + body["access_token"]})
        fx["revoked_access_token"] = body["access_token"]

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hits)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    atk_url = f"http://127.0.0.1:{srv.server_address[1]}"

    r = Results("JWT forgeries",
                "Each token is sent to `GET /v1/me` (Bearer and `gh_session` cookie), "
                "`GET /v1/auth/check` and `POST /v1/introspect` (form, client Basic auth). "
                "Expected: 401 with `WWW-Authenticate: Bearer` / 401 without `X-Auth-User-Id` / "
                "`{\"active\": false}` and nothing else. Attacker-signed tokens carry a valid "
                "Ed25519 signature by a key the attacker controls.",
                key="jwt")

    def req(*a, **kw):
        """A refused connection counts as status -1 (closed), not as a crash of the stage."""
        try:
            return t.request(*a, **kw)
        except (ConnectionError, OSError) as e:
            if not t.healthy():
                raise
            return -1, [], str(e).encode()

    def probe(token):
        res = {}
        st, h, b = req("GET", "/v1/me", headers={"Authorization": "Bearer " + token})
        res["me"] = (st, header_value(h, "WWW-Authenticate"), b)
        st, h, b = req("GET", "/v1/me", headers={"Cookie": "gh_session=" + token})
        res["cookie"] = (st, None, b)
        st, h, b = req("GET", "/v1/auth/check", headers={"Authorization": "Bearer " + token})
        res["check"] = (st, header_value(h, "X-Auth-User-Id"), b)
        st, h, b = req("POST", "/v1/introspect",
                       body="token=" + urllib.parse.quote(token, safe=""),
                       headers={"Authorization": basic,
                                "Content-Type": "application/x-www-form-urlencoded"})
        res["introspect"] = (st, None, b)
        return res

    # Positive control: the genuine token is accepted everywhere.
    good = probe(fx["main"]["access_token"])
    intro = json.loads(good["introspect"][2] or b"{}")
    r.add("genuine token (control)", "200 / 200 / 200 / active:true",
          f"{good['me'][0]} / {good['cookie'][0]} / {good['check'][0]} / "
          f"active:{intro.get('active')}",
          good["me"][0] == 200 and good["cookie"][0] == 200 and good["check"][0] == 200
          and intro.get("active") is True)

    bodies = {}
    for name, token, why in forge(fx, timeshift, atk_url):
        try:
            res = probe(token)
        except OSError as e:
            r.add(name, "refused", f"connection error {e}", False)
            continue
        me, ck, chk, it = res["me"], res["cookie"], res["check"], res["introspect"]
        # Oversize header: the HTTP layer may refuse it before auth (431/413/400): also a refusal.
        size_refusal = {400, 413, 431, -1}
        me_ok = (me[0] == 401 and (me[1] or "").startswith("Bearer")) or (
            why == "size" and me[0] in size_refusal)
        ck_ok = ck[0] == 401 or (why == "size" and ck[0] in size_refusal)
        chk_ok = (chk[0] == 401 and not chk[1]) or (why == "size" and chk[0] in size_refusal)
        try:
            it_body = json.loads(it[2]) if it[2] else None
        except ValueError:
            it_body = None
        it_ok = (it[0] == 200 and it_body == {"active": False}) or (
            why == "size" and it[0] in size_refusal)
        got = f"{me[0]} / {ck[0]} / {chk[0]} / {it[0]} {json.dumps(it_body)}"
        r.add(name, "401 / 401 / 401 / active:false", got, me_ok and ck_ok and chk_ok and it_ok)
        if me[0] == 401:
            bodies.setdefault(normal_body(me[2]), []).append(name)
    # Uniform failure: every 401 of /v1/me has the same body (no oracle on the cause).
    r.add("every /v1/me refusal has the same body (minus request_id)", "1 distinct body",
          f"{len(bodies)} distinct", len(bodies) == 1)
    if len(bodies) > 1:
        for b, names in bodies.items():
            r.note(f"body {b[:160]} for: {', '.join(names[:5])}")
    r.add("attacker jku/x5u URLs fetched by the server (SSRF)", "0 fetches",
          f"{len(Hits.hits)} fetches", not Hits.hits)
    if not timeshift:
        r.add("expired / future tokens with a valid signature", "minted by run.sh (faketime)",
              "timeshift.json missing", False)
    # Server still alive.
    r.add("server answers /healthz afterwards", "200", t.healthy(), t.healthy())
    srv.shutdown()
    return r.write(outdir, "jwt")


if __name__ == "__main__":
    sys.exit(main())
