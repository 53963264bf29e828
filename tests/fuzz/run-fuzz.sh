#!/bin/sh
# Runs a libFuzzer binary over a copy of the seed corpus (the shipped corpus is never
# modified) for a bounded time and fails if it finds a crash, leak or hang.
#
#   run-fuzz.sh FUZZER [EXTRA LIBFUZZER FLAGS...]
#   PS_FUZZ_SECONDS   how long to fuzz (default 30)
#   PS_FUZZ_CORPUS    the seed corpus folder (default: corpus/ next to this script)
#   PS_FUZZ_DICT      the libFuzzer dictionary (default: model_file.dict next to it)
#
# A crashing input is kept (its path is printed) so that it can be replayed with
# `FUZZER INPUT`.
set -eu

fuzzer=${1:?usage: run-fuzz.sh FUZZER [LIBFUZZER FLAGS...]}
shift
seconds=${PS_FUZZ_SECONDS:-30}
here=$(cd "$(dirname "$0")" && pwd)

if [ ! -x "$fuzzer" ]; then
    echo "run-fuzz.sh: $fuzzer is not an executable fuzzer" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/priorsep-fuzz.XXXXXX")
mkdir "$work/corpus" "$work/artifacts"
cp "${PS_FUZZ_CORPUS:-$here/corpus}"/* "$work/corpus/"

dict=
dict_file=${PS_FUZZ_DICT:-$here/model_file.dict}
if [ -f "$dict_file" ]; then
    dict="-dict=$dict_file"
fi

status=0
# -timeout: a single input running this long is a hang; -rss_limit_mb also caps a single
# allocation (malloc_limit_mb defaults to it).
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" $dict "$@" \
    "$work/corpus" || status=$?

if [ "$status" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
    echo "run-fuzz.sh: the fuzzer failed (exit $status); inputs kept in $work/artifacts" >&2
    rm -rf "$work/corpus"
    exit 1
fi
rm -rf "$work"
