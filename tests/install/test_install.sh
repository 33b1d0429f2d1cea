#!/bin/sh
# test_install.sh SRC - install braid as a distribution package would and check
# the tree: a build configured for a non-default prefix, installed into a
# DESTDIR; binaries, shared libbraid with its soname, braid.pc (a program
# built with `pkg-config --cflags --libs braid` runs), man pages, completion,
# configs, units whose paths point into the prefix and that
# `systemd-analyze verify` accepts, their `systemd-analyze security` figure,
# and `--check-config` on the installed configs.
set -eu
src=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/braid-install.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
fail() { echo "test_install: FAIL: $*" >&2; exit 1; }
ok() { echo "test_install: ok: $*"; }

# The prefix is a path of the test's own (it exists, empty, so that a mount
# namespace can bind the DESTDIR tree onto it for systemd-analyze).
prefix="$tmp/prefix"
dest="$tmp/dest"
mkdir -p "$prefix" "$dest"
cmake -S "$src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; fail "configure"; }
cmake --build "$tmp/build" -j 2 --target braidd braid-worker braid-cli braid man \
    >"$tmp/build.log" 2>&1 || { tail -n 40 "$tmp/build.log"; fail "build"; }
DESTDIR="$dest" cmake --install "$tmp/build" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "install"; }
root="$dest$prefix"

for f in bin/braidd bin/braid-worker bin/braid; do
    [ -x "$root/$f" ] || fail "$f missing"
done
lib=$(ls "$root"/lib*/libbraid.so.0 "$root"/lib/*/libbraid.so.0 2>/dev/null | head -n 1)
[ -n "$lib" ] || fail "libbraid.so.0 missing"
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libbraid.so.0 ] || fail "soname is '$soname', not libbraid.so.0"
libdir=$(dirname "$lib")
[ -e "$libdir/libbraid.so" ] || fail "libbraid.so (the development link) missing"
[ -f "$root/include/braid.h" ] || fail "include/braid.h missing"
pc="$libdir/pkgconfig/braid.pc"
[ -f "$pc" ] || fail "braid.pc missing"
for m in man1/braid.1 man8/braidd.8 man8/braid-worker.8 man5/braid.conf.5; do
    [ -s "$root/share/man/$m" ] || fail "man page $m missing"
done
for c in braid braidd braid-worker; do
    [ -s "$root/share/bash-completion/completions/$c" ] || fail "completion $c missing"
done
for c in braidd.conf braidd-test.conf worker-example.conf; do
    [ -s "$root/etc/braid/$c" ] || fail "config $c missing"
done
ok "tree: binaries, $soname, braid.pc, man pages, completion, configs"

# A program built against the installed library through pkg-config.
cat >"$tmp/hello.c" <<'C'
#include <braid.h>
#include <stdio.h>
int main(void)
{
    const char *v = braid_version();
    if (!v || !*v)
        return 1;
    printf("%s\n", v);
    return 0;
}
C
PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" \
    pkg-config --cflags --libs braid >"$tmp/pc.flags" || fail "pkg-config braid"
# shellcheck disable=SC2046
cc -o "$tmp/hello" "$tmp/hello.c" $(cat "$tmp/pc.flags") || fail "build against braid.pc"
LD_LIBRARY_PATH="$libdir" "$tmp/hello" >"$tmp/hello.out" || fail "program linked to libbraid"
ok "pkg-config --cflags --libs braid: $(cat "$tmp/pc.flags"); libbraid $(cat "$tmp/hello.out")"

# Units point into the prefix.
units="$root/lib/systemd/system"
for u in braidd.service braidd@.service braid-worker@.service; do
    [ -f "$units/$u" ] || fail "unit $u missing"
    grep -q "^ExecStart=$prefix/bin/" "$units/$u" || fail "$u: ExecStart not in $prefix/bin"
    grep -q " $prefix/etc/braid/" "$units/$u" || fail "$u: config not in $prefix/etc/braid"
    if grep -E '^Exec[A-Za-z]*=' "$units/$u" | grep -v "=$prefix/bin/" | grep -qv '=/bin/kill'; then
        fail "$u: a command outside the prefix"
    fi
done
ok "units point into $prefix"

# systemd-analyze verify checks the commands exist: bind the DESTDIR tree
# onto the prefix in a mount namespace of our own (root only).
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && command -v systemd-analyze >/dev/null; then
    unshare -m sh -c "mount --bind '$root' '$prefix' &&
        MANPATH='$prefix/share/man' systemd-analyze verify '$prefix/lib/systemd/system/braidd.service' \
            '$prefix/lib/systemd/system/braidd@.service' '$prefix/lib/systemd/system/braid-worker@.service'" \
        >"$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log"; fail "systemd-analyze verify"; }
    ok "systemd-analyze verify: units accepted"
else
    echo "test_install: SKIP systemd-analyze verify (needs root, unshare and systemd-analyze)"
fi

# The broker unit's exposure, by systemd's own measure: 3.0 or better.
if command -v systemd-analyze >/dev/null; then
    for u in braidd.service braid-worker@.service; do
        score=$(systemd-analyze security --offline=yes "$units/$u" 2>/dev/null |
            sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        [ -n "$score" ] || fail "systemd-analyze security printed no figure for $u"
        echo "test_install: systemd-analyze security $u: $score"
        if [ "$u" = braidd.service ]; then
            awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "braidd.service exposure $score > 3.0"
        fi
    done
fi

# --check-config: the installed examples pass; a broken one names file:line.
"$root/bin/braidd" --check-config "$root/etc/braid/braidd.conf" || fail "braidd.conf refused"
"$root/bin/braidd" --check-config "$root/etc/braid/braidd-test.conf" || fail "braidd-test.conf refused"
"$root/bin/braid-worker" --check-config "$root/etc/braid/worker-example.conf" ||
    fail "worker-example.conf refused"
printf 'broker\n    frontend = "tcp://127.0.0.1:5555"\n    heartbeat_msec = often\n' >"$tmp/bad.conf"
rc=0
"$root/bin/braidd" --check-config "$tmp/bad.conf" 2>"$tmp/bad.err" || rc=$?
[ "$rc" -eq 2 ] || fail "braidd --check-config of a broken file exited $rc, not 2"
grep -q "$tmp/bad.conf:3:" "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "no file:line in the error"; }
printf 'worker\n    slots = 4\nsource\n    x\n        type = teleport\n' >"$tmp/badw.conf"
rc=0
"$root/bin/braid-worker" --check-config "$tmp/badw.conf" 2>"$tmp/badw.err" || rc=$?
[ "$rc" -eq 2 ] || fail "braid-worker --check-config of a broken file exited $rc, not 2"
grep -q "$tmp/badw.conf:5:" "$tmp/badw.err" || { cat "$tmp/badw.err"; fail "no file:line in the worker error"; }
ok "--check-config: examples accepted, broken files refused with file:line"
echo "test_install: passed"
