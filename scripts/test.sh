#!/bin/sh
# Runs the whole test suite, in two builds:
#   build      release, gcc, -Werror: every test, including the real-time test (its
#              malloc interposer cannot run under sanitizers);
#   build-san  clang, AddressSanitizer + UndefinedBehaviorSanitizer (leaks included),
#              -Werror: every other test, and the model-file fuzzer for a bounded time.
# Prints "N passed, N failed" last; exits non-zero if anything failed.
set -u
cd "$(dirname "$0")/.."
status=0
passed=0
failed=0

run_build() { # dir, meson setup options...
    dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
    fi
    meson compile -C "$dir" || return 1
    meson test -C "$dir" --print-errorlogs --num-processes 2
}

count() { # dir: add the counts of its last test run
    log="$1/meson-logs/testlog.json"
    [ -f "$log" ] || return 0
    ok=$(grep -c '"result": "OK"' "$log" || true)
    bad=$(grep -c '"result": "\(FAIL\|ERROR\|TIMEOUT\|UNEXPECTEDPASS\)"' "$log" || true)
    passed=$((passed + ok))
    failed=$((failed + bad))
}

run_build build || status=1
count build
CC=clang run_build build-san -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized || status=1
count build-san

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi # a build broke
echo "tests: $passed passed, $failed failed"
exit $status
