#!/usr/bin/env bash
# Runs every example listed in Cargo.toml's [[example]] entries (the tour
# included), each with `cargo run --release --example NAME` under a time
# limit, after one `cargo build --release --examples`. Examples that cargo
# finds on its own in examples/*.rs without a [[example]] entry are run too
# (marked "auto"), so that none is left out.
#
# Prints each example's name, result and wall time; exits non-zero, naming
# the failing examples, if any fails or runs past the limit. The output of a
# failing example is shown (its last 40 lines).
#
# Usage: scripts/run_examples.sh            (from anywhere in the repository)
#        LIMIT=120 scripts/run_examples.sh  (seconds per example; default 60)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
limit="${LIMIT:-60}"

# The names of the [[example]] entries, in the order of Cargo.toml.
mapfile -t listed < <(awk '
    /^[[:space:]]*\[\[example\]\][[:space:]]*$/ { in_example = 1; next }
    /^[[:space:]]*\[/                            { in_example = 0 }
    in_example && /^[[:space:]]*name[[:space:]]*=/ {
        sub(/^[^=]*=[[:space:]]*"/, ""); sub(/".*$/, ""); print
    }' Cargo.toml)
if [ "${#listed[@]}" -eq 0 ]; then
    echo "run_examples: no [[example]] entries found in Cargo.toml" >&2
    exit 1
fi

names=("${listed[@]}")
origin=()
for _ in "${listed[@]}"; do origin+=(""); done
for file in examples/*.rs; do
    [ -e "$file" ] || continue
    name="$(basename "$file" .rs)"
    found=0
    for l in "${listed[@]}"; do
        if [ "$l" = "$name" ]; then found=1; break; fi
    done
    if [ "$found" -eq 0 ]; then
        names+=("$name")
        origin+=(" (auto)")
    fi
done

echo "run_examples: building ${#names[@]} examples (cargo build --release --examples)"
cargo build --release --examples

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

failed=()
total_start=$EPOCHREALTIME
for i in "${!names[@]}"; do
    name="${names[$i]}"
    start=$EPOCHREALTIME
    set +e
    timeout "$limit" cargo run --quiet --release --example "$name" >"$logs/$name.log" 2>&1
    rc=$?
    set -e
    secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    if [ "$rc" -eq 0 ]; then
        result="ok"
    elif [ "$rc" -eq 124 ]; then
        result="TIMED OUT after ${limit} s"
        failed+=("$name")
    else
        result="FAILED (exit $rc)"
        failed+=("$name")
    fi
    printf '%-28s %-24s %7s s\n' "$name${origin[$i]}" "$result" "$secs"
    if [ "$rc" -ne 0 ]; then
        echo "---- last 40 lines of $name ----"
        tail -n 40 "$logs/$name.log"
        echo "----"
    fi
done
secs=$(awk -v a="$total_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')

if [ "${#failed[@]}" -gt 0 ]; then
    echo "run_examples: ${#failed[@]} of ${#names[@]} failed: ${failed[*]}" >&2
    exit 1
fi
echo "run_examples: all ${#names[@]} examples passed in $secs s"
