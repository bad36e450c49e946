#!/bin/sh
# Source gate: fails when SQL is built from strings (a format function producing SQL text, or
# SQL concatenated at run time) or a banned function appears in the given tree.
# Usage: check_source.sh DIR...      → exit 0 when clean
set -u
status=0
for dir in "$@"; do
    sqlfmt=$(grep -rnE '(s?n?printf|mprintf|strcat|asprintf)[[:space:]]*\(.*"[[:space:]]*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|select|insert|update|delete)[[:space:]]' \
        --include='*.c' --include='*.h' "$dir" 2>/dev/null)
    if [ -n "$sqlfmt" ]; then
        echo "source gate: SQL built with a format function (use a literal prepared statement):"
        echo "$sqlfmt"
        status=1
    fi
    banned=$(grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok|sqlite3_exec|sqlite3_mprintf)[[:space:]]*\(' \
        --include='*.c' "$dir" 2>/dev/null | grep -v 'core/banned.h' | grep -vE '^\S+:[0-9]+:[[:space:]]*(/\*|\*|//)')
    if [ -n "$banned" ]; then
        echo "source gate: banned function:"
        echo "$banned"
        status=1
    fi
done
[ $status -eq 0 ] && echo "source gate: clean"
exit $status
