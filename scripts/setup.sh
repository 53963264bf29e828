#!/bin/sh
# The one set-up command on a fresh Debian machine: installs the Debian packages,
# configures and builds priorsep (release, gcc, warnings are errors), then runs the
# main job. Until the separator exists, the main job is the engine benchmark on the
# reference prior R. Safe to run again.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build
./build/bench/bench_engine
