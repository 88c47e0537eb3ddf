#!/usr/bin/env bash
# The OT-engine table of docs/performance.md: every row of SCI's baseline
# (../shared/reference/sci-baseline.md) that `sir bench op` has, on silent OT and on IKNP,
# 2^16 elements, one thread per party, loopback, medians of 3 timed calls.
# Usage: docs/bench-engines.sh [path/to/sir]  (default: target/release/sir)
set -euo pipefail
sir=${1:-target/release/sir}
rows=(
  "sigmoid 16→16, s 12|sigmoid --bits 16 --frac-in 12 --frac-out 12"
  "tanh 16→16, s 12|tanh --bits 16 --frac-in 12 --frac-out 12"
  "exp (x ≤ 0) 16→16, s 12|rexp --bits 16 --frac-in 12 --frac-out 12"
  "rsqrt 16→16, s 12|rsqrt --bits 16 --frac-in 12 --frac-out 12"
  "reciprocal 16→16, s 12|reciprocal --bits 16 --frac-in 12 --frac-out 12"
  "sigmoid 32→32, s 16|sigmoid --bits 32 --frac-in 16 --frac-out 16"
  "tanh 32→32, s 16|tanh --bits 32 --frac-in 16 --frac-out 16"
  "exp (x ≤ 0) 32→32, s 16|rexp --bits 32 --frac-in 16 --frac-out 16"
  "rsqrt 32→32, s 16|rsqrt --bits 32 --frac-in 16 --frac-out 16"
  "reciprocal 32→32, s 16|reciprocal --bits 32 --frac-in 16 --frac-out 16"
  "ReLU ℓ=32|relu --bits 32"
  "ReLU ℓ=64|relu --bits 64"
  "MSB ℓ=32|msb --bits 32"
  "MSB ℓ=64|msb --bits 64"
  "ARS ℓ=16 by 7|ars --bits 16 --shift 7"
  "ARS ℓ=32 by 12|ars --bits 32 --shift 12"
  "ARS ℓ=64 by 16|ars --bits 64 --shift 16"
  "TR ℓ=16 by 7|trunc_reduce --bits 16 --shift 7"
  "TR ℓ=32 by 12|trunc_reduce --bits 32 --shift 12"
  "TR ℓ=64 by 16|trunc_reduce --bits 64 --shift 16"
  "mult 32×32→32|mult --bits 32"
  "mult 64×64→64|mult --bits 64"
  "mult 16×16→32|mult --bits 16 --bits-out 32"
  "mult 8×8→16|mult --bits 8 --bits-out 16"
  "SExt 16→32|sext --bits 32 --bits-in 16"
  "ZExt 32→64|zext --bits 64 --bits-in 32"
)
echo "| op | silent B/elem (online + COTs) | silent µs/elem | silent flights | IKNP B/elem | IKNP µs/elem | exact |"
echo "|---|---:|---:|---:|---:|---:|---|"
for row in "${rows[@]}"; do
  label=${row%%|*}
  args=${row#*|}
  # shellcheck disable=SC2086
  s=$("$sir" bench op $args --reps 3 --ot silent --json)
  # shellcheck disable=SC2086
  i=$("$sir" bench op $args --reps 3 --ot iknp --json)
  python3 - "$label" "$s" "$i" <<'EOF'
import json, sys
label, s, i = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
ok = all(r["bit_exact"] and r["cost_exact"] for r in (s, i))
print(f"| {label} | **{s['bytes_per_elem']:.1f}** ({s['online_bytes_per_elem']:.1f} + "
      f"{s['correlation_bytes'] / s['n']:.1f}) | {s['us_per_elem']:.2f} | {s['rounds']} | "
      f"{i['bytes_per_elem']:.1f} | {i['us_per_elem']:.2f} | {'bit+cost' if ok else 'NOT EXACT'} |")
EOF
done
