#!/usr/bin/env bash
# Screenshots of `sir report` for fastgrnn_g30 and digits_cnn (Block-ReLU, with a run), taken by
# headless Chromium (Debian: `apt-get install chromium`), into docs/report-*.png; fails if a page
# logs a console error. Run from the repository root: bash docs/report-screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { echo "needs chromium (apt-get install chromium)" >&2; exit 1; }
cargo build --release -q
sir=target/release/sir
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

$sir compile examples/fastgrnn_g30/model.sir --weights examples/fastgrnn_g30/weights.npz \
    --calib examples/fastgrnn_g30/calib.npy -o "$work/g30.plan.json" >/dev/null
$sir simulate "$work/g30.plan.json" --weights examples/fastgrnn_g30/weights.npz \
    --input examples/fastgrnn_g30/inputs.npy --report "$work/g30.run.json" >/dev/null
$sir report "$work/g30.plan.json" --run "$work/g30.run.json" --net wan -o "$work/g30.html"

d=examples/digits_cnn
$sir compile $d/model_block.sir --weights $d/weights.npz --calib $d/calib.npy \
    --labels $d/train_labels.npy --relu-budget-per-layer 0.1 -o "$work/choice.plan.json" >/dev/null
$sir compile $d/model_block.sir --weights $d/weights_block10.npz --calib $d/calib.npy \
    --labels $d/train_labels.npy --relu-patches "$work/choice.plan.json" -o "$work/digits.plan.json" >/dev/null
$sir simulate "$work/digits.plan.json" --weights $d/weights_block10.npz --input $d/test.npy \
    --report "$work/digits.run.json" >/dev/null
$sir report "$work/digits.plan.json" --run "$work/digits.run.json" --net wan -o "$work/digits.html"

for name in g30 digits; do
    page="file://$work/$name.html"
    # Console messages go to stderr with --enable-logging; an uncaught error fails the script.
    chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 \
        --dump-dom "$page" >/dev/null 2>"$work/$name.log" || true
    if grep -E "CONSOLE.*(Uncaught|Error)" "$work/$name.log"; then
        echo "$name: the page logged a console error" >&2
        exit 1
    fi
    # Headless Chromium crashes now and then on this machine: up to three tries.
    for try in 1 2 3; do
        chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,3200 \
            --screenshot="docs/report-$name.png" "$page" 2>/dev/null && break
        [ "$try" = 3 ] && { echo "chromium failed on $name" >&2; exit 1; }
    done
    echo "docs/report-$name.png ($(wc -c <"$work/$name.html") bytes of HTML)"
done
