#!/bin/sh
# bench_image end to end on a tiny run (so the full-scale tool cannot rot): a short
# training on 7x7 Fashion-MNIST writes its CSV line and a PNG; refusals exit non-zero
# with a message. Skips (77) when Fashion-MNIST is not installed.
set -u
bench=$1
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "skipped: no Fashion-MNIST"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$bench" made --shrink 4 --train 500 --test 100 --steps 20 --hidden 32 \
    --png "$dir/s.png" --grid 4 --csv "$dir/runs.csv" >"$dir/out" 2>"$dir/err" ||
    fail "tiny run exited $?: $(cat "$dir/err")"
[ "$(wc -l <"$dir/runs.csv")" -eq 2 ] || fail "runs.csv is not a header and one line"
grep -q '^made,fashion,7x7,2,' "$dir/runs.csv" || fail "runs.csv line: $(tail -1 "$dir/runs.csv")"
[ "$(head -c 4 "$dir/s.png" | od -An -tx1 | tr -d ' \n')" = 89504e47 ] || fail "s.png is not a PNG"

"$bench" no-such-model --shrink 4 --train 10 --test 10 >/dev/null 2>"$dir/err"
[ $? -eq 1 ] && grep -q 'unknown image model' "$dir/err" || fail "unknown kind: $(cat "$dir/err")"
"$bench" made --levels 3 >/dev/null 2>"$dir/err"
[ $? -eq 2 ] || fail "--levels 3 was accepted"
"$bench" made --data nowhere >/dev/null 2>"$dir/err"
[ $? -eq 2 ] && grep -q 'nowhere' "$dir/err" || fail "--data nowhere: $(cat "$dir/err")"
echo ok
