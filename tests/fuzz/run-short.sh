#!/bin/sh
# run-short.sh - a short, bounded libFuzzer run of fuzz_decode (ctest entry
# fuzz_decode_short).
#
#   run-short.sh [SECONDS]          default 15
#
# Builds its own binary, whatever the surrounding build uses: fuzz_decode.c
# and proto/braid_msg.c, braid_keys.c, braid_parts.c compiled by clang with
# -fsanitize=fuzzer,address,undefined into a temporary directory, then runs
# it for SECONDS over a copy of tests/fuzz/corpus (the repository is never
# written). Exits 0 with "skipped: ..." when clang or its libFuzzer runtime
# (Debian: libclang-rt-14-dev) is missing; any finding, or a build failure
# with a working toolchain, fails. On failure the temporary directory is
# kept and its path printed (crash-* artifacts are in it).
#
# Environment: CLANG (default: clang on PATH), PKG_CONFIG (pkg-config).
set -eu

SECONDS_TO_RUN=${1:-15}
here=$(cd "$(dirname "$0")" && pwd)
proto=$(cd "$here/../../proto" && pwd)
CLANG=${CLANG:-clang}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
me=fuzz_decode_short

skip() {
    echo "$me: skipped: $*"
    exit 0
}

command -v "$CLANG" >/dev/null 2>&1 || skip "clang not found"
command -v "$PKG_CONFIG" >/dev/null 2>&1 || skip "pkg-config not found"
pkgs="libczmq libzmq msgpack"
"$PKG_CONFIG" --exists $pkgs || skip "pkg-config does not know $pkgs"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/braid-fuzz-short.XXXXXX")
keep=0
cleanup() {
    if [ "$keep" -eq 0 ]; then
        rm -rf "$tmp"
    else
        echo "$me: kept $tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

san="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"

# The toolchain probe: a trivial target. If this does not link, the fuzzer
# runtime is missing and the run is skipped rather than failed.
cat >"$tmp/probe.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { (void) data; (void) size; return 0; }
EOF
if ! "$CLANG" $san "$tmp/probe.c" -o "$tmp/probe" >"$tmp/probe.log" 2>&1; then
    sed 's/^/  /' "$tmp/probe.log" | head -5
    skip "clang cannot link -fsanitize=fuzzer (libFuzzer runtime missing?)"
fi

cflags=$("$PKG_CONFIG" --cflags $pkgs)
libs=$("$PKG_CONFIG" --libs $pkgs)
# shellcheck disable=SC2086
if ! "$CLANG" -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra $san -fno-omit-frame-pointer \
        -I"$proto" $cflags "$here/fuzz_decode.c" "$proto/braid_msg.c" "$proto/braid_keys.c" "$proto/braid_parts.c" \
        $libs -o "$tmp/fuzz_decode"; then
    keep=1
    echo "$me: FAILED: build" >&2
    exit 1
fi

mkdir "$tmp/corpus"
cp "$here/corpus/"* "$tmp/corpus/"
echo "$me: $(ls "$tmp/corpus" | wc -l) seeds, ${SECONDS_TO_RUN}s"

rc=0
"$tmp/fuzz_decode" -max_total_time="$SECONDS_TO_RUN" -max_len=8300 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$tmp/" \
    "$tmp/corpus" >"$tmp/fuzz.log" 2>&1 || rc=$?
# The progress lines are noise; keep the first lines, the end and the stats.
grep -E '^(INFO: Seed|INFO: Loaded|INFO: seed corpus|#[0-9]+[[:space:]]+(INITED|DONE)|Done [0-9]+ runs|stat::)' \
    "$tmp/fuzz.log" || true
if [ "$rc" -ne 0 ]; then
    keep=1
    echo "$me: FAILED: libFuzzer exited $rc; its log:" >&2
    tail -n 60 "$tmp/fuzz.log" >&2
    ls "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-* 2>/dev/null >&2 || true
    exit 1
fi
echo "$me: ok"
