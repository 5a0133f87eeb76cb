#!/usr/bin/env bash
# Benchmark `etcdflow check` (or `lint`, `fmt --check`) on a generated 10,000-line flow
# (not a timed test).
#   tests/bench/check.sh [RUNS] [check|lint|fmt]   default 30 runs of check; prints
#   min / median / max wall time
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-30}
case "${2:-check}" in
  check) cmd=(check) ;;
  lint) cmd=(lint) ;;
  fmt) cmd=(fmt --check) ;;
  *) echo "usage: $0 [RUNS] [check|lint|fmt]" >&2; exit 2 ;;
esac
cargo build --release --quiet
flow=$(mktemp --suffix=.flow)
trap 'rm -f "$flow"' EXIT
tests/bench/gen-flow.sh 10000 > "$flow"
lines=$(wc -l < "$flow")
./target/release/etcdflow "${cmd[@]}" "$flow" >/dev/null 2>&1 || true # warm the page cache
times=()
for _ in $(seq "$runs"); do
  s=$(date +%s%N)
  ./target/release/etcdflow "${cmd[@]}" "$flow" >/dev/null 2>&1 || true
  e=$(date +%s%N)
  times+=( $(( (e - s) / 1000000 )) )
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
min=$(echo "$sorted" | head -1)
max=$(echo "$sorted" | tail -1)
med=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")
echo "| ${cmd[*]}, ${lines}-line flow, ${runs} runs | min ${min} ms | median ${med} ms | max ${max} ms |"
if [ "${cmd[0]}" = check ]; then ./target/release/etcdflow check --timings "$flow" 2>&1 | tail -1; fi
