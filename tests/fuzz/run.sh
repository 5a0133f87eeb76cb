#!/usr/bin/env bash
# Fuzz parse + check (and the inventory loader) for a while.
#   fuzz/run.sh [SECONDS] [TARGET]     default: 600 s of parse_check
# Needs the nightly toolchain and `cargo install cargo-fuzz`. Seeds the corpus with every
# flow in stdlib/, playbooks/ and tests/cases/. Oracle: no panic, no internal error.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-600}
target=${2:-parse_check}
mkdir -p "tests/fuzz/corpus/$target"
if [ "$target" = parse_check ]; then
  cp stdlib/*.flow tests/cases/*/*.flow "tests/fuzz/corpus/$target/" 2>/dev/null || true
  cp playbooks/*.flow "tests/fuzz/corpus/$target/" 2>/dev/null || true
else
  cp tests/cases/inventories/* "tests/fuzz/corpus/$target/"
fi
cd tests/fuzz
exec cargo +nightly fuzz run "$target" "corpus/$target" -- \
  -max_total_time="$secs" -timeout=1 -rss_limit_mb=512 -max_len=8192
