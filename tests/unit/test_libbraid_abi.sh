#!/bin/sh
# test_libbraid_abi.sh LIBBRAID BRAID_H: the shared library's soname is
# libbraid.so.0, and its dynamic symbols are exactly the functions braid.h
# declares with BRAID_EXPORT (the protocol code inside it stays hidden).
set -u
lib=$1
header=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/braid-abi.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != "libbraid.so.0" ]; then
    echo "soname is '$soname', want libbraid.so.0" >&2
    exit 1
fi
# The name after each "BRAID_EXPORT type" line is on the next line.
awk '/^BRAID_EXPORT / { want = 1; next } want { sub(/\(.*/, ""); print; want = 0 }' "$header" \
    | sort >"$tmp/declared"
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | grep -v '^_' \
    | sort >"$tmp/exported"
if [ ! -s "$tmp/declared" ] || ! cmp -s "$tmp/declared" "$tmp/exported"; then
    echo "exported (>) differs from declared (<):" >&2
    diff "$tmp/declared" "$tmp/exported" >&2
    exit 1
fi
echo "libbraid.so.0 exports the $(wc -l <"$tmp/declared") functions of braid.h"
