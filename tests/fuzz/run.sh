#!/usr/bin/env bash
# Fuzz parse + check (or the inventory loader, the snapshot verifier, the formatter).
#   tests/fuzz/run.sh [SECONDS] [parse_check|structured|inventory|snapshot|fmt]   default: 600 s of parse_check
# Needs the nightly toolchain and `cargo install cargo-fuzz`. Seeds the corpus with every
# flow in stdlib/, playbooks/ and tests/cases/. Oracle: no panic, no internal error.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-600}
target=${2:-parse_check}
mkdir -p "tests/fuzz/corpus/$target"
if [ "$target" = parse_check ] || [ "$target" = fmt ]; then
  cp stdlib/*.flow tests/cases/*/*.flow "tests/fuzz/corpus/$target/" 2>/dev/null || true
  cp playbooks/*.flow "tests/fuzz/corpus/$target/" 2>/dev/null || true
elif [ "$target" = structured ]; then
  head -c 4096 /dev/urandom > "tests/fuzz/corpus/$target/seed"
elif [ "$target" = snapshot ]; then
  cp tests/data/*.db "tests/fuzz/corpus/$target/"
else
  cp tests/cases/inventories/* "tests/fuzz/corpus/$target/"
fi
maxlen=8192
[ "$target" = snapshot ] && maxlen=131072
cd tests/fuzz
exec cargo +nightly fuzz run --fuzz-dir . "$target" "corpus/$target" -- \
  -max_total_time="$secs" -timeout=1 -rss_limit_mb=512 -max_len="$maxlen"
