#!/bin/sh
# Proves the container's runtime stage without a Docker engine or a pullable base image:
#  1. scripts/runtime-packages.txt names exactly the packages the binary's libraries come from;
#  2. mmdebstrap installs a minimal Debian 12 root (variant minbase: what debian:12-slim is made
#     of, with its dpkg excludes) plus only that list — as the Dockerfile's runtime stage does;
#  3. the release binary runs there the way `docker run --read-only --user 10001:10001
#     --tmpfs /tmp -v DATA:/var/lib/gatehouse` runs it (docs/container.md): as PID 1 of its own
#     PID and mount namespaces, uid/gid 10001 (no passwd entry, no supplementary groups), the
#     root file system mounted read-only, a writable data volume, the master key as a
#     read-only secret file (_FILE), the image's ENV/USER/WORKDIR read from the Dockerfile;
#  4. from outside: /healthz, /readyz, register + login + /v1/me; inside: the Dockerfile's
#     HEALTHCHECK command, `gatehouse doctor` (no FAIL) and `backup create` as operator
#     commands beside the server, the root refusing writes (EROFS, even for root), the server
#     sandboxed (NoNewPrivs, seccomp) as 10001; SIGTERM → exit 0.
#
# With --build-stage, the binary is not taken from the host: the Dockerfile's build stage is run
# first, instruction by instruction (WORKDIR, COPY from the repository, RUN in a chroot), in
# its own fresh bookworm minbase root, and the runtime proof uses the binary it produced (the
# path the runtime stage's COPY --from=build names). About 3-4 minutes more.
#
# Usage: container-proof.sh [--build-stage] [RELEASE_BINARY]   (default build/gatehouse; root)
# The root file system is cached as a tarball, keyed by the package list and the day (so a
# day-old cache picks up security updates): GH_CONTAINER_CACHE (default
# /var/tmp/gatehouse-container). GH_DEBIAN_MIRROR / GH_DEBIAN_SECURITY_MIRROR pick mirrors.
set -eu
cd "$(dirname "$0")/.."
BUILD_STAGE=0
if [ "${1:-}" = "--build-stage" ]; then
    BUILD_STAGE=1
    shift
fi
BIN=$(readlink -f "${1:-build/gatehouse}")
LIST=scripts/runtime-packages.txt
CACHE=${GH_CONTAINER_CACHE:-/var/tmp/gatehouse-container}
MIRROR=${GH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECMIRROR=${GH_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
UIDGID=10001:10001   # checked against the Dockerfile's USER below
t0=$(date +%s)
say() { echo "container-proof: [$(( $(date +%s) - t0 ))s] $*"; }
die() {
    echo "container-proof: FAIL: $*" >&2
    [ -n "${T:-}" ] && [ -f "$T/log" ] && tail -20 "$T/log" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap, mount and unshare namespaces)"
[ "$BUILD_STAGE" = 1 ] || [ -x "$BIN" ] || die "$BIN: no release binary (make build)"
for tool in mmdebstrap unshare nsenter chroot curl python3; do
    command -v $tool >/dev/null || sh scripts/install-deps.sh mmdebstrap util-linux coreutils curl python3
done

# ---- the image's runtime settings, from the Dockerfile's last stage ----
eval "$(python3 - Dockerfile <<'PY'
import json, re, shlex, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
stages = re.split(r"(?m)^FROM\s", text)
last = stages[-1]
def inst(name):
    return [m.group(1).strip() for m in re.finditer(r"(?m)^%s\s+(.*)$" % name, last)]
env = {}
for e in inst("ENV"):
    for kv in shlex.split(e):
        k, _, v = kv.partition("=")
        env[k] = v
hc = [h for h in inst("HEALTHCHECK")]
cmd = json.loads(hc[-1][hc[-1].index("CMD") + 3:].strip()) if hc else []
vol = json.loads(inst("VOLUME")[-1])
out = {
    "IMG_USER": inst("USER")[-1],
    "IMG_WORKDIR": inst("WORKDIR")[-1],
    "IMG_VOLUME": vol[0],
    "IMG_ENTRYPOINT": " ".join(json.loads(inst("ENTRYPOINT")[-1])),
    "IMG_ENV": " ".join("%s=%s" % (k, v) for k, v in env.items()),
    "IMG_HEALTHCHECK": cmd[2] if len(cmd) == 3 and cmd[:2] == ["bash", "-c"] else "",
}
for k, v in out.items():
    print("%s=%s" % (k, shlex.quote(v)))
PY
)"
[ "$IMG_USER" = "$UIDGID" ] || die "the Dockerfile's USER is '$IMG_USER', not $UIDGID"
[ -n "$IMG_HEALTHCHECK" ] || die "no HEALTHCHECK CMD [\"bash\", \"-c\", …] in the Dockerfile"
say "image: USER $IMG_USER, WORKDIR $IMG_WORKDIR, VOLUME $IMG_VOLUME, ENV $IMG_ENV"

# rootfs NAME [PACKAGE…]: the path of a cached tarball of bookworm minbase (+ the packages),
# built with mmdebstrap when the cache has none for today.
rootfs() {
    name=$1
    shift
    mkdir -p "$CACHE"
    key=$( (echo "$*"; echo "$MIRROR $SECMIRROR minbase"; date -u +%F) | sha256sum | cut -c1-16)
    tar=$CACHE/$name-$key.tar
    if [ -s "$tar" ]; then
        say "$name root file system from cache $tar" >&2
        echo "$tar"
        return 0
    fi
    say "mmdebstrap: bookworm minbase + $# packages ($name)" >&2
    work=/var/tmp
    # /dev/shm unpacks several times faster than a virtual disk (dpkg is write-bound).
    [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2{print $4}')" -gt 1048576 ] 2>/dev/null && work=/dev/shm
    rm -f "$CACHE/$name"-*.tar
    include=""
    [ $# -eq 0 ] || include="--include=$(echo "$@" | tr ' ' ',')"
    # The excludes are debian:12-slim's (/etc/dpkg/dpkg.cfg.d/docker in the official image).
    TMPDIR=$work timeout 900 mmdebstrap --variant=minbase --mode=root --format=tar --quiet \
        --dpkgopt=force-unsafe-io \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/groff/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        $include bookworm "$tar.part" \
        "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
        "deb $SECMIRROR bookworm-security main" >&2 || die "mmdebstrap failed"
    mv "$tar.part" "$tar"
    say "$name root file system built ($(du -h "$tar" | cut -f1)), cached as $tar" >&2
    echo "$tar"
}

base=/var/tmp
[ -w /dev/shm ] && base=/dev/shm
T=$(mktemp -d "$base/gh-container-XXXXXX")
UPID=""
cleanup() {
    if [ -n "$UPID" ] && kill -0 "$UPID" 2>/dev/null; then
        kill -KILL "$UPID" 2>/dev/null || true
        wait "$UPID" 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT INT TERM

# ---- 0. (--build-stage) the Dockerfile's build stage, instruction by instruction ----
if [ "$BUILD_STAGE" = 1 ]; then
    python3 - Dockerfile "$T/plan" >"$T/build-plan.sh" <<'PY' || die "cannot follow the Dockerfile's build stage"
import os, re, shlex, sys
text = re.sub(r"(?m)^\s*#.*\n", "", open(sys.argv[1]).read()).replace("\\\n", " ")
plan = sys.argv[2]
os.makedirs(plan)
stages, cur = [], None
for l in (l.strip() for l in text.splitlines()):
    if not l:
        continue
    word, _, rest = l.partition(" ")
    if word.upper() == "FROM":
        cur = {"as": rest.split()[-1] if " AS " in rest.upper() else "", "ins": []}
        stages.append(cur)
    elif cur is not None:
        cur["ins"].append((word.upper(), rest.strip()))
build = [st for st in stages if st["as"] == "build"][0]
q = shlex.quote
out = ["set -eu", "R=$1 CTX=$2"]
wd = "/"
for n, (word, rest) in enumerate(build["ins"]):
    if word == "WORKDIR":
        wd = os.path.join(wd, rest)
        out.append('mkdir -p "$R"%s' % q(wd))
    elif word == "COPY":
        args = shlex.split(rest)
        if any(a.startswith("--") for a in args):
            sys.exit("COPY %s: flags are not followed" % rest)
        srcs, dst = args[:-1], os.path.join(wd, args[-1])
        is_dir = args[-1].endswith("/") or len(srcs) > 1
        for src in srcs:
            if src.endswith("/"):      # a directory: its contents into dst
                out.append('mkdir -p "$R"%s && cp -a "$CTX"/%s. "$R"%s/' % (q(dst), q(src), q(dst)))
            elif is_dir:
                out.append('mkdir -p "$R"%s && cp -a "$CTX"/%s "$R"%s/' % (q(dst), q(src), q(dst)))
            else:
                out.append('cp -a "$CTX"/%s "$R"%s' % (q(src), q(dst)))
    elif word == "RUN":
        cmd = rest
        while cmd.startswith("--"):      # --mount=…: not used by the build stage's commands
            cmd = cmd.split(" ", 1)[1].lstrip()
        with open(os.path.join(plan, "run%d.sh" % n), "w") as f:
            f.write("set -e\ncd %s\n%s\n" % (q(wd), cmd))
        out.append('cp %s "$R/.gh-run.sh"' % q(os.path.join(plan, "run%d.sh" % n)))
        out.append('echo "build stage: RUN" >&2; sed 1,2d "$R/.gh-run.sh" >&2')
        out.append('chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:'
                   '/usr/bin:/sbin:/bin HOME=/root /bin/sh /.gh-run.sh')
        out.append('rm -f "$R/.gh-run.sh"')
    elif word in ("ARG", "LABEL"):
        continue
    else:
        sys.exit("build stage: %s is not followed" % word)
copy = [shlex.split(r) for w, r in stages[-1]["ins"] if w == "COPY" and "--from=build" in r][0]
out.append("echo BUILD_OUTPUT=%s" % q([a for a in copy if not a.startswith("--")][0]))
print("\n".join(out))
PY
    BTAR=$(rootfs build)
    [ -s "$BTAR" ] || die "no build root file system"
    mkdir "$T/build"
    tar -C "$T/build" -xf "$BTAR"
    cp /etc/resolv.conf "$T/build/etc/resolv.conf"
    say "build stage: the Dockerfile's instructions in a fresh bookworm root"
    unshare --mount --propagation private sh -c 'mount -t proc proc "$1/proc" && sh "$2" "$1" "$3"' \
        build "$T/build" "$T/build-plan.sh" "$PWD" >"$T/build.log" 2>&1 ||
        { tail -30 "$T/build.log" >&2; die "the Dockerfile's build stage failed"; }
    out=$(sed -n 's/^BUILD_OUTPUT=//p' "$T/build.log" | tail -1)
    BIN=$T/build$out
    [ -x "$BIN" ] || die "the build stage produced no $out"
    grep "^hardening:\|^linked-packages:" "$T/build.log" | sed 's/^/    /'
    say "build stage: $out built"
fi

# ---- 1. the package list against the binary ----
sh scripts/linked-packages.sh --check "$LIST" "$BIN" || die "$LIST does not match $BIN"

# ---- 2. the runtime root file system: minbase + the list (cached) ----
TAR=$(rootfs rootfs $(sed 's/#.*//' "$LIST" | xargs))
[ -s "$TAR" ] || die "no runtime root file system"

# ---- 3. the container ----
ROOT=$T/root
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$TAR"
# The Dockerfile's runtime stage: the binary, root-owned 0755; the volume's mount point.
install -m 0755 -o 0 -g 0 "$BIN" "$ROOT${IMG_ENTRYPOINT}"
install -d -o 10001 -g 10001 -m 0700 "$ROOT$IMG_VOLUME"
# Mount points the engine would create: a secrets folder, /dev, /proc, /tmp.
mkdir -p "$ROOT/run/secrets"
for pkg in $(sed 's/#.*//' "$LIST"); do
    chroot "$ROOT" dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
        die "$pkg is not installed in the root file system"
done
# The volume (owned by the container's uid, 0700) and the secret (0400, readable only by it).
mkdir -p "$T/volume" "$T/secrets"
chown 10001:10001 "$T/volume" && chmod 700 "$T/volume"
head -c32 /dev/urandom | base64 >"$T/secrets/master_key"
chown 10001:10001 "$T/secrets/master_key" && chmod 400 "$T/secrets/master_key"
P=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
B="http://127.0.0.1:$P"
# docker run -e …: the image's ENV, then the operator's (a loopback port: the proof shares the
# host's network namespace; production needs a public https URL and a trusted proxy).
RUN_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/ $IMG_ENV
GATEHOUSE_LISTEN=127.0.0.1:$P GATEHOUSE_PUBLIC_URL=https://auth.example.test
GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32 GATEHOUSE_MASTER_KEY_FILE=/run/secrets/master_key"
RUN_ENV=$(echo $RUN_ENV)

# PID 1 of a new PID + mount namespace: root bind-mounted read-only, then the writable volume,
# the read-only secret, a fresh /proc, a minimal /dev and a small /tmp on top.
unshare --mount --pid --fork --propagation private sh -c '
    set -e
    R=$1 T=$2 VOL=$3 WD=$4 EP=$5 U=$6 ENVV=$7
    mount --bind "$R" "$R"
    mount -o remount,bind,ro "$R"
    mount --bind "$T/volume" "$R$VOL"
    mount --bind -o ro "$T/secrets" "$R/run/secrets"
    mount -o remount,bind,ro "$R/run/secrets"
    mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
    mount -t tmpfs -o nosuid,noexec,mode=755,size=64k tmpfs "$R/dev"
    for n in null zero full random urandom tty; do
        touch "$R/dev/$n"
        mount --bind "/dev/$n" "$R/dev/$n"
    done
    mount -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=16m tmpfs "$R/tmp"
    exec chroot --userspec="$U" "$R" /usr/bin/env -i -C "$WD" $ENVV "$EP" serve
' proof "$ROOT" "$T" "$IMG_VOLUME" "$IMG_WORKDIR" "$IMG_ENTRYPOINT" "$UIDGID" "$RUN_ENV" \
    >"$T/log" 2>&1 &
UPID=$!
GPID=""
for _ in $(seq 1 200); do
    [ -z "$GPID" ] && GPID=$(cat "/proc/$UPID/task/$UPID/children" 2>/dev/null | awk '{print $1}')
    curl -fs "$B/healthz" >/dev/null 2>&1 && break
    kill -0 "$UPID" 2>/dev/null || die "serve exited during start-up"
    sleep 0.1
done
curl -fs "$B/healthz" >/dev/null || die "no answer on $B/healthz within 20 s"
[ -n "$GPID" ] || die "cannot find the server's pid"
say "serving in the container root on $B (host pid $GPID)"

# ---- 4. checks ----
# inside CMD...: a process in the container (its namespaces and root) as $UIDGID, image env.
inside() {
    nsenter --target "$GPID" --mount --pid -- chroot --userspec="$UIDGID" "$ROOT" \
        /usr/bin/env -i -C "$IMG_WORKDIR" $RUN_ENV "$@"
}
st=/proc/$GPID/status
grep -q "^Uid:[[:space:]]*10001[[:space:]]10001[[:space:]]10001[[:space:]]10001" "$st" || die "server uid: $(grep Uid "$st")"
grep -q "^Gid:[[:space:]]*10001[[:space:]]10001[[:space:]]10001[[:space:]]10001" "$st" || die "server gid: $(grep Gid "$st")"
grep -Eq "^Groups:[[:space:]]*$" "$st" || die "supplementary groups: $(grep Groups "$st")"
grep -q "^NoNewPrivs:[[:space:]]*1" "$st" || die "no_new_privs not set"
grep -q "^Seccomp:[[:space:]]*2" "$st" || die "no seccomp filter"
grep -q '"event":"sandbox_enabled"' "$T/log" || die "no sandbox_enabled log line"
[ "$(readlink "/proc/$GPID/root")" = "$ROOT" ] || die "server root is $(readlink "/proc/$GPID/root")"
say "server: pid 1 of its namespace, uid/gid 10001, no groups, no_new_privs, seccomp"

# read-only root: EROFS even for root in the container's mount namespace; the volume is writable
if nsenter --target "$GPID" --mount -- chroot "$ROOT" sh -c ': > /usr/local/bin/probe' 2>"$T/ro"; then
    die "the root file system is writable"
fi
grep -q "Read-only file system" "$T/ro" || die "root write refused, but not as read-only: $(cat "$T/ro")"
inside sh -c ': > /etc/probe' 2>/dev/null && die "uid 10001 could write /etc"
inside sh -c ": > $IMG_VOLUME/probe && rm $IMG_VOLUME/probe" || die "the volume is not writable"
say "root file system read-only (EROFS), volume writable"

# the HEALTHCHECK, exactly as the Dockerfile writes it (bash /dev/tcp; no curl in the image)
inside bash -c "$IMG_HEALTHCHECK" || die "the Dockerfile's HEALTHCHECK command failed"
inside sh -c 'command -v curl || command -v wget' >/dev/null && die "curl or wget in the image"
say "HEALTHCHECK command passes inside the container (no curl/wget there)"

# the API from outside
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
[ "$(code "$B/readyz")" = 200 ] || die "/readyz: $(cat "$T/body")"
PW='Vq7-larch-Mosaic-quill-4812'
[ "$(code "$B/v1/users" -H 'Content-Type: application/json' \
    -d "{\"email\":\"ada@example.com\",\"password\":\"$PW\",\"display_name\":\"Ada\"}")" = 201 ] ||
    die "register: $(cat "$T/body")"
[ "$(code "$B/v1/token" -H 'Content-Type: application/json' \
    -d "{\"email\":\"ada@example.com\",\"password\":\"$PW\"}")" = 200 ] || die "login: $(cat "$T/body")"
AT=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["access_token"])' "$T/body")
[ "$(code "$B/v1/me" -H "Authorization: Bearer $AT")" = 200 ] || die "/v1/me: $(cat "$T/body")"
grep -q ada@example.com "$T/body" || die "/v1/me: $(cat "$T/body")"
say "register + login + /v1/me from outside: 201, 200, 200"

# operator commands inside, beside the running server
inside "$IMG_ENTRYPOINT" backup create "$IMG_VOLUME/proof.ghbk" >"$T/backup" 2>&1 ||
    die "backup create inside: $(cat "$T/backup")"
dc=0
inside "$IMG_ENTRYPOINT" doctor >"$T/doctor" 2>&1 || dc=$?
sed 's/^/    /' "$T/doctor"
[ "$dc" -le 1 ] || die "doctor inside the container exits $dc (a FAIL)"
grep -q "^PASS  privileges" "$T/doctor" || die "doctor: privileges"
grep -q "^PASS  sandbox" "$T/doctor" || die "doctor: sandbox"
grep -Eq "^(PASS|WARN)  packages" "$T/doctor" || die "doctor: no package-floor line"
grep -q "cannot check" "$T/doctor" && die "doctor cannot read the root's dpkg database"
say "backup create and doctor (exit $dc, no FAIL) inside the container"

# graceful stop: SIGTERM to PID 1 → exit 0
kill -TERM "$GPID"
rc=0
wait "$UPID" || rc=$?
UPID=""
[ "$rc" -eq 0 ] || die "serve exited $rc after SIGTERM"
[ -s "$T/volume/gatehouse.db" ] || die "no database in the volume"
say "SIGTERM: exit 0; the database is in the volume"
echo "container-proof: PASS in $(( $(date +%s) - t0 )) s"
