#!/usr/bin/env bash
# Reruns amphi's whole benchmark suite and refreshes its tables, in one go:
#
#   1. cargo bench -p amphi-benches: every group, one run (several minutes
#      on a 2-core machine);
#   2. benches/RESULTS.md regenerated from that run only (results older than
#      the run are left out), keeping its hand-written "## Notes" section;
#   3. the rows of the README's Performance table printed, to paste.
#
# Usage: scripts/bench.sh [--note TEXT] [-- CRITERION_ARGS...]
#   --note TEXT        a line for RESULTS.md's machine header
#   -- ARGS            passed to the bench binaries (e.g. a group filter, or
#                      --warm-up-time 0.2 --measurement-time 0.5 for a smoke
#                      test; do not commit RESULTS.md from such a run)
set -euo pipefail
cd "$(dirname "$0")/.."

note=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --note) note="${2:?--note needs a text}"; shift 2 ;;
        --) shift; break ;;
        *) echo "usage: scripts/bench.sh [--note TEXT] [-- CRITERION_ARGS...]" >&2; exit 2 ;;
    esac
done

# The workspace's target dir (honours CARGO_TARGET_DIR and .cargo/config).
target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
criterion_dir="$target_dir/criterion"
mkdir -p "$criterion_dir"
stamp="$criterion_dir/.bench-sh-started"
touch "$stamp"

cargo bench -p amphi-benches -- "$@"

python3 scripts/bench_table.py --criterion-dir "$criterion_dir" --since-file "$stamp" \
    --note "$note" --output benches/RESULTS.md
echo
echo "README Performance table rows (benches/RESULTS.md has the full tables):"
echo
python3 scripts/bench_table.py --criterion-dir "$criterion_dir" --since-file "$stamp" --readme-rows
