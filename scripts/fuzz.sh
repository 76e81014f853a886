#!/usr/bin/env bash
# Run every fuzzer for longer than `ninja test` does (default 300 s each),
# keeping a corpus per fuzzer under build/corpus/ so later runs build on it.
# usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
seconds=${1:-300}
cd "$(dirname "$0")/.."
status=0
for f in build/fuzz/fuzz_*; do
	name=$(basename "$f")
	mkdir -p "build/corpus/$name"
	echo "== $name: $seconds s"
	"$f" -max_total_time="$seconds" -print_final_stats=1 "build/corpus/$name" || status=1
done
exit $status
