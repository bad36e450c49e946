#!/bin/sh
# The Debian packages behind every shared library a binary loads (ldd: the whole closure, not
# only DT_NEEDED), for the container's runtime package list and the SBOM.
#
# Usage: linked-packages.sh BINARY
#          one tab-separated line per library:
#          soname  path  package  architecture  version  source-package  source-version
#        linked-packages.sh --packages BINARY
#          the package names only, sorted, one per line
#        linked-packages.sh --check LIST BINARY
#          exit 1 when LIST (one package a line, # comments) misses a package a library comes
#          from, or names one that no library comes from (the list would drift either way)
#
# Fails (exit 2) when ldd finds a library missing or dpkg owns no package for a library: the
# list and the SBOM must cover everything the binary loads. linux-vdso is the kernel's.
set -eu

usage() {
    echo "usage: linked-packages.sh [--packages | --check LIST] BINARY" >&2
    exit 2
}

mode=tsv
list=""
case "${1:-}" in
--packages) mode=packages; shift ;;
--check) mode=check; list=${2:-}; [ -n "$list" ] || usage; shift 2 ;;
esac
[ $# -eq 1 ] || usage
bin=$1
[ -f "$bin" ] || { echo "linked-packages: $bin: no such file" >&2; exit 2; }
command -v dpkg-query >/dev/null || { echo "linked-packages: dpkg-query not found (Debian only)" >&2; exit 2; }

out=$(mktemp)
trap 'rm -f "$out" "$out".*' EXIT
# LD_TRACE_LOADED_OBJECTS through ldd; never run on an untrusted binary (ldd may execute it).
ldd "$bin" >"$out.ldd" 2>&1 || { cat "$out.ldd" >&2; rm -f "$out.ldd"; exit 2; }
if grep -q 'not found' "$out.ldd"; then
    echo "linked-packages: unresolved libraries:" >&2
    grep 'not found' "$out.ldd" >&2
    rm -f "$out.ldd"
    exit 2
fi
# Libraries the binary dlopen()s when a feature is configured (libpq for PostgreSQL:
# src/store/pq_dl.h) are in its strings as plain sonames and not in ldd's answer: add each one
# and its own closure, so that the package list and the SBOM cover what a deployment may load.
for so in $(strings -a "$bin" | grep -xE 'lib[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*\.so\.[0-9]+' | sort -u); do
    grep -q "^[[:space:]]*$so " "$out.ldd" && continue
    path=$("$(command -v ldconfig || echo /sbin/ldconfig)" -p | awk -v s="$so" '$1 == s && $NF ~ /^\// { print $NF; exit }')
    [ -n "$path" ] || { echo "linked-packages: $bin loads $so at run time, but it is not installed" >&2; exit 2; }
    echo "	$so => $path (dlopen)" >>"$out.ldd"
    ldd "$path" >>"$out.ldd" 2>&1 || { echo "linked-packages: ldd $path failed" >&2; exit 2; }
done
# "soname => /path (addr)" or "/lib64/ld-linux-x86-64.so.2 (addr)"
awk '$2 == "=>" && $3 ~ /^\// { print $1 "\t" $3; next }
     $1 ~ /^\// { n = split($1, a, "/"); print a[n] "\t" $1 }' "$out.ldd" | sort -u >"$out.libs"
rm -f "$out.ldd"
# dpkg records a library under the path its package ships it at; with merged /usr the loader
# may name the other one (/lib/... vs /usr/lib/...), and symlinks point at versioned files.
# One dpkg-query -S for every candidate path of every library (it is slow per call).
while IFS='	' read -r soname path; do
    real=$(readlink -f "$path")
    for p in "$path" "$real"; do
        printf '%s\t%s\n%s\t/usr%s\n%s\t%s\n' "$soname" "$p" "$soname" "$p" "$soname" "${p#/usr}"
    done
done <"$out.libs" >"$out.cand"
cut -f2 "$out.cand" | sort -u | xargs dpkg-query -S 2>/dev/null >"$out.owners" || true
status=0
while IFS='	' read -r soname path; do
    pkg=$(awk -F'\t' -v s="$soname" '$1 == s { print $2 }' "$out.cand" | while read -r c; do
        awk -v c="$c" '{ i = index($0, ": "); if (substr($0, i + 2) == c) { print substr($0, 1, i - 1); exit } }' "$out.owners"
    done | head -1)
    if [ -z "$pkg" ]; then
        echo "linked-packages: no Debian package owns $path ($soname)" >&2
        status=2
        continue
    fi
    dpkg-query -W -f="$soname\t$path\t\${Package}\t\${Architecture}\t\${Version}\t\${source:Package}\t\${source:Version}\n" "$pkg" >>"$out"
done <"$out.libs"
rm -f "$out.libs" "$out.cand" "$out.owners"
[ "$status" -eq 0 ] || exit "$status"

case "$mode" in
tsv) cat "$out" ;;
packages) cut -f3 "$out" | sort -u ;;
check)
    want=$(cut -f3 "$out" | sort -u)
    have=$(sed 's/#.*//' "$list" | tr -s ' \t' '\n\n' | sed '/^$/d' | sort -u)
    missing=$(printf '%s\n' "$want" | while read -r p; do printf '%s\n' "$have" | grep -qxF "$p" || echo "$p"; done)
    extra=$(printf '%s\n' "$have" | while read -r p; do printf '%s\n' "$want" | grep -qxF "$p" || echo "$p"; done)
    [ -z "$missing" ] || { echo "linked-packages: $list lacks (a linked library comes from it):" $missing >&2; status=1; }
    [ -z "$extra" ] || { echo "linked-packages: $list names packages no linked library comes from:" $extra >&2; status=1; }
    [ "$status" -eq 0 ] && echo "linked-packages: $list matches the $(printf '%s\n' "$want" | wc -l) packages $bin loads"
    exit "$status"
    ;;
esac
