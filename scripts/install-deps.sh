#!/bin/sh
# Installs the Debian packages priorsep needs to build, test and fuzz (the LV2 tests run
# the plugin in lilv's tools and jalv; the JACK tests start jackd with its dummy driver).
# Idempotent: apt-get skips what is already installed. Needs root (or sudo).
set -eu
PKGS="build-essential pkg-config meson ninja-build
      libopenblas-dev zlib1g-dev libfftw3-dev libsndfile1-dev libsoxr-dev libjansson-dev
      lv2-dev libjack-jackd2-dev check
      liblilv-dev lilv-utils sordi jalv lv2file jackd2
      dataset-fashion-mnist
      clang libclang-rt-dev valgrind"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $PKGS
