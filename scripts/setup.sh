#!/bin/sh
# The one set-up command on a fresh Debian machine: installs the Debian packages,
# configures and builds priorsep (release, gcc, warnings are errors), then runs the
# main job: separates the shipped example mixture (a toy test item) with the shipped
# default model set and prints its scores against the true sources. Safe to run again.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build
./build/cli/priorsep separate --model models/toy --out out --force models/toy/example/00000/mix.wav
./build/cli/priorsep eval separation --model models/toy --data models/toy/example
