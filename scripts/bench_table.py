#!/usr/bin/env python3
"""Turn criterion's results into a Markdown table of amphi against its peers.

Reads <criterion-dir>/<group>/<function>/new/estimates.json (the mean point
estimate, in nanoseconds per iteration) for every group that has an `amphi`
entry, and prints, per group, each implementation's time and the ratio
amphi / peer of the times: below 1.00 amphi is faster, above 1.00 it is
slower (lower is better for amphi). Then it checks the performance targets
of DESIGN.md. With --readme-rows it prints instead the rows of the README's
Performance table.

The criterion dir defaults to the workspace's target dir: $CARGO_TARGET_DIR
/criterion if that is set, else target/criterion at the repository root
(the benches are the amphi-benches workspace member).

Usage (scripts/bench.sh does all of this in one command):
    cargo bench -p amphi-benches         # or: ... --bench lock -- lock_mixed
    python3 scripts/bench_table.py [--criterion-dir DIR] [--noise 0.10]
                                   [--note TEXT] [--no-header]
                                   [--since-file FILE] [--output FILE]
                                   [--readme-rows]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from pathlib import Path

# group pattern -> (description, peers whose best time amphi must match,
# allowed factor). "amphi time <= factor * min(time of peers)".
TARGETS = [
    (r"lock_uncontended_blocking", "within 1.2x of parking_lot", ["parking_lot"], 1.2),
    (r"lock_uncontended_async", "at or below futures::lock::Mutex", ["futures"], 1.0),
    (
        r"lock_contended_threads_\d+",
        "throughput >= max(std, parking_lot)",
        ["std", "parking_lot"],
        1.0,
    ),
    (
        r"lock_contended_tasks",
        "throughput >= max(tokio, async-lock)",
        ["tokio", "async_lock"],
        1.0,
    ),
    (r"lock_mixed", "throughput >= async-lock", ["async_lock"], 1.0),
    (r"semaphore_churn_.*", "throughput >= tokio", ["tokio"], 1.0),
    (r"event_fanout_threads_\d+", "at or below tokio Notify", ["tokio_notify"], 1.0),
    (r"condition_pingpong_(task_task|thread_task)", "at or below tokio Notify", ["tokio_notify"], 1.0),
    (r"rlock_.*", "within 1.5x of parking_lot's ReentrantMutex", ["parking_lot"], 1.5),
    (
        r"queue_(spsc|mpmc)_(bounded|unbounded)_blocking(_\d+)?",
        "throughput >= 0.8x crossbeam-channel",
        ["crossbeam"],
        1.25,
    ),
    (r"queue_(spsc|mpmc|mpsc)_bounded_async(_\d+)?", "throughput >= 0.8x kanal", ["kanal"], 1.25),
    (r"queue_mixed_.*", "throughput >= kanal", ["kanal"], 1.0),
    (
        r"queue_(lifo|priority)_threads_\d+",
        "throughput >= Mutex + Condvar",
        ["mutex_condvar"],
        1.0,
    ),
    (
        r"executor_latency_(task|thread)",
        "latency <= 0.5x tokio spawn_blocking",
        ["tokio_spawn_blocking"],
        0.5,
    ),
    (
        r"executor_throughput_\d+",
        "throughput >= 3x tokio spawn_blocking",
        ["tokio_spawn_blocking"],
        1 / 3,
    ),
]

# Order of groups in the output (by file / scenario), others after.
GROUP_ORDER = [
    "lock_uncontended_blocking",
    "lock_uncontended_async",
    "lock_contended_threads_2",
    "lock_contended_threads_4",
    "lock_contended_tasks",
    "lock_mixed",
    "semaphore_churn_10p_6t",
    "semaphore_churn_5p_6t",
    "event_fanout_tasks_1000",
    "event_fanout_threads_8",
    "condition_pingpong_thread_thread",
    "condition_pingpong_task_task",
    "condition_pingpong_thread_task",
    "rlock_uncontended",
    "rlock_reentrant",
    "barrier_threads_2",
    "barrier_threads_4",
    "barrier_threads_8",
    "barrier_tasks_8",
    "queue_spsc_bounded_blocking",
    "queue_spsc_unbounded_blocking",
    "queue_mpmc_bounded_blocking_4",
    "queue_mpmc_bounded_blocking_16",
    "queue_spsc_bounded_async",
    "queue_mpmc_bounded_async_4",
    "queue_mpsc_bounded_async_4",
    "queue_mixed_threads_to_tasks",
    "queue_mixed_tasks_to_threads",
    "queue_lifo_threads_4",
    "queue_priority_threads_4",
    "queue_pingpong_thread_task",
    "executor_latency_task",
    "executor_latency_thread",
    "executor_throughput_1",
    "executor_throughput_4",
    "executor_map_10k",
    "timer_arm_cancel_10k",
    "timer_fire_10k",
    "thread_spawn_join",
]

WHAT_IS_ONE_ITERATION = {
    "lock_uncontended_blocking": "one lock + unlock",
    "lock_uncontended_async": "one lock future polled once (no-op waker) + unlock",
    "lock_contended_threads_2": "2 threads x 1000 lock/unlock",
    "lock_contended_threads_4": "4 threads x 1000 lock/unlock",
    "lock_contended_tasks": "10 tasks x 1000 lock/unlock",
    "lock_mixed": "(2 threads + 8 tasks) x 1000 lock/unlock",
    "semaphore_churn_10p_6t": "6 tasks x 1000 acquire/yield/release, 10 permits",
    "semaphore_churn_5p_6t": "6 tasks x 1000 acquire/yield/release, 5 permits",
    "event_fanout_tasks_1000": "set() until 1000 waiting tasks have finished",
    "event_fanout_threads_8": "set() until 8 blocked threads have woken",
    "condition_pingpong_thread_thread": "one round trip",
    "condition_pingpong_task_task": "one round trip",
    "condition_pingpong_thread_task": "one round trip",
    "rlock_uncontended": "one lock + unlock, not held",
    "rlock_reentrant": "one lock + unlock inside a held lock",
    "barrier_threads_2": "one round of 2 threads",
    "barrier_threads_4": "one round of 4 threads",
    "barrier_threads_8": "one round of 8 threads",
    "barrier_tasks_8": "one round of 8 tasks",
    "queue_spsc_bounded_blocking": "1024 messages, 1 thread -> 1 thread, capacity 64",
    "queue_spsc_unbounded_blocking": "1024 messages, 1 thread -> 1 thread, unbounded",
    "queue_mpmc_bounded_blocking_4": "1024 messages, 4 threads -> 4 threads, capacity 64",
    "queue_mpmc_bounded_blocking_16": "1024 messages, 16 threads -> 16 threads, capacity 64",
    "queue_spsc_bounded_async": "1024 messages, 1 task -> 1 task, capacity 64",
    "queue_mpmc_bounded_async_4": "1024 messages, 4 tasks -> 4 tasks, capacity 64",
    "queue_mpsc_bounded_async_4": "1024 messages, 4 tasks -> 1 task, capacity 64",
    "queue_mixed_threads_to_tasks": "1024 messages, 2 threads -> 1 task, capacity 64",
    "queue_mixed_tasks_to_threads": "1024 messages, 2 tasks -> 1 thread, capacity 64",
    "queue_lifo_threads_4": "1024 messages, 2 threads -> 2 threads, LIFO, unbounded",
    "queue_priority_threads_4": "1024 messages, 2 threads -> 2 threads, smallest first, unbounded",
    "queue_pingpong_thread_task": "one round trip thread -> task -> thread",
    "executor_latency_task": "one trivial job submitted from a task, its result awaited",
    "executor_latency_thread": "one trivial job submitted from a thread, its result waited for",
    "executor_throughput_1": "10^4 trivial jobs from 1 thread, all results collected, 4 workers",
    "executor_throughput_4": "10^4 trivial jobs from 4 threads, all results collected, 4 workers",
    "executor_map_10k": "map over 10^4 items (a small computation each), results in order, 4 workers",
    "timer_arm_cancel_10k": "10^4 timers armed (due in an hour), then all cancelled",
    "timer_fire_10k": "10^4 timers due over 50 ms, until the last has fired (lateness: lateness.txt)",
    "thread_spawn_join": "one thread spawned and joined",
}


# group -> (the README's scenario column, [(function id, name shown)]): the
# peers the README's Performance table lists, in its order.
README_ROWS = {
    "lock_uncontended_blocking": (
        "uncontended lock+unlock, blocking",
        [("parking_lot", "parking_lot"), ("std", "std"), ("async_lock", "async-lock")],
    ),
    "lock_uncontended_async": (
        "uncontended lock+unlock, async (first poll)",
        [("futures", "futures"), ("async_lock", "async-lock"), ("tokio", "tokio")],
    ),
    "lock_contended_threads_2": (
        "contended, 2 threads x 1000",
        [("parking_lot", "parking_lot"), ("std", "std"), ("async_lock", "async-lock")],
    ),
    "lock_contended_threads_4": (
        "contended, 4 threads x 1000",
        [("parking_lot", "parking_lot"), ("std", "std")],
    ),
    "lock_contended_tasks": (
        "contended, 10 tasks x 1000 (multi-thread rt)",
        [("async_lock", "async-lock"), ("tokio", "tokio"), ("futures", "futures")],
    ),
    "lock_mixed": (
        "mixed, 2 threads + 8 tasks",
        [("async_lock", "async-lock"), ("tokio", "tokio")],
    ),
    "semaphore_churn_10p_6t": (
        "semaphore churn, 10 permits / 6 tasks",
        [("tokio", "tokio"), ("async_lock", "async-lock")],
    ),
    "semaphore_churn_5p_6t": (
        "semaphore churn, 5 permits / 6 tasks",
        [("tokio", "tokio"), ("async_lock", "async-lock")],
    ),
    "event_fanout_tasks_1000": (
        "event fan-out, 1000 tasks",
        [("tokio_notify", "tokio Notify"), ("event_listener", "event-listener")],
    ),
    "event_fanout_threads_8": (
        "event fan-out, 8 threads",
        [("tokio_notify", "tokio Notify"), ("event_listener", "event-listener")],
    ),
    "condition_pingpong_thread_thread": (
        "condition ping-pong thread<->thread",
        [("std", "std Condvar"), ("parking_lot", "parking_lot")],
    ),
    "condition_pingpong_task_task": (
        "condition ping-pong task<->task",
        [("tokio_notify", "tokio Notify")],
    ),
    "condition_pingpong_thread_task": (
        "condition ping-pong thread<->task",
        [("tokio_notify", "tokio Notify")],
    ),
    "rlock_uncontended": (
        "RLock lock+unlock, not held",
        [("parking_lot", "parking_lot ReentrantMutex")],
    ),
    "rlock_reentrant": (
        "RLock lock+unlock, re-entered",
        [("parking_lot", "parking_lot ReentrantMutex")],
    ),
    "barrier_threads_2": ("barrier round, 2 threads", [("std", "std"), ("tokio", "tokio")]),
    "barrier_threads_4": ("barrier round, 4 threads", [("std", "std"), ("tokio", "tokio")]),
    "barrier_threads_8": ("barrier round, 8 threads", [("std", "std"), ("tokio", "tokio")]),
    "barrier_tasks_8": ("barrier round, 8 tasks", [("tokio", "tokio")]),
    "queue_spsc_bounded_blocking": (
        "queue 1 -> 1 thread, bounded 64",
        [
            ("crossbeam", "crossbeam"),
            ("kanal", "kanal"),
            ("flume", "flume"),
            ("std_mpsc", "std mpsc"),
            ("async_channel", "async-channel"),
        ],
    ),
    "queue_spsc_unbounded_blocking": (
        "queue 1 -> 1 thread, unbounded",
        [
            ("crossbeam", "crossbeam"),
            ("kanal", "kanal"),
            ("flume", "flume"),
            ("std_mpsc", "std mpsc"),
            ("async_channel", "async-channel"),
        ],
    ),
    "queue_mpmc_bounded_blocking_4": (
        "queue 4 -> 4 threads, bounded 64",
        [
            ("crossbeam", "crossbeam"),
            ("kanal", "kanal"),
            ("flume", "flume"),
            ("async_channel", "async-channel"),
        ],
    ),
    "queue_mpmc_bounded_blocking_16": (
        "queue 16 -> 16 threads, bounded 64",
        [
            ("crossbeam", "crossbeam"),
            ("kanal", "kanal"),
            ("flume", "flume"),
            ("async_channel", "async-channel"),
        ],
    ),
    "queue_spsc_bounded_async": (
        "queue 1 -> 1 task, bounded 64",
        [
            ("kanal", "kanal"),
            ("flume", "flume"),
            ("async_channel", "async-channel"),
            ("tokio_mpsc", "tokio mpsc"),
        ],
    ),
    "queue_mpmc_bounded_async_4": (
        "queue 4 -> 4 tasks, bounded 64",
        [("kanal", "kanal"), ("flume", "flume"), ("async_channel", "async-channel")],
    ),
    "queue_mpsc_bounded_async_4": (
        "queue 4 -> 1 task, bounded 64",
        [
            ("kanal", "kanal"),
            ("flume", "flume"),
            ("async_channel", "async-channel"),
            ("tokio_mpsc", "tokio mpsc"),
        ],
    ),
    "queue_mixed_threads_to_tasks": (
        "queue 2 threads -> 1 task, bounded 64",
        [
            ("kanal", "kanal"),
            ("flume", "flume"),
            ("async_channel", "async-channel"),
            ("tokio_mpsc", "tokio mpsc"),
        ],
    ),
    "queue_mixed_tasks_to_threads": (
        "queue 2 tasks -> 1 thread, bounded 64",
        [
            ("kanal", "kanal"),
            ("flume", "flume"),
            ("async_channel", "async-channel"),
            ("tokio_mpsc", "tokio mpsc"),
        ],
    ),
    "queue_lifo_threads_4": (
        "LifoQueue 2 -> 2 threads",
        [("mutex_condvar", "std Mutex + Condvar stack")],
    ),
    "queue_priority_threads_4": (
        "PriorityQueue 2 -> 2 threads",
        [("mutex_condvar", "std Mutex + Condvar heap")],
    ),
    "queue_pingpong_thread_task": (
        "queue ping-pong thread<->task",
        [("tokio_mpsc", "tokio mpsc"), ("flume", "flume")],
    ),
    "executor_latency_task": (
        "executor job latency, from a task",
        [
            ("tokio_spawn_blocking", "tokio spawn_blocking"),
            ("blocking_unblock", "blocking::unblock"),
            ("rayon_spawn", "rayon spawn"),
        ],
    ),
    "executor_latency_thread": (
        "executor job latency, from a thread",
        [
            ("tokio_spawn_blocking", "tokio spawn_blocking"),
            ("blocking_unblock", "blocking::unblock"),
            ("rayon_spawn", "rayon spawn"),
            ("threadpool", "threadpool"),
        ],
    ),
    "executor_throughput_1": (
        "executor 10^4 jobs, 1 producer thread",
        [
            ("tokio_spawn_blocking", "tokio spawn_blocking"),
            ("blocking_unblock", "blocking::unblock"),
            ("rayon_spawn", "rayon spawn"),
            ("threadpool", "threadpool"),
        ],
    ),
    "executor_throughput_4": (
        "executor 10^4 jobs, 4 producer threads",
        [
            ("tokio_spawn_blocking", "tokio spawn_blocking"),
            ("blocking_unblock", "blocking::unblock"),
            ("rayon_spawn", "rayon spawn"),
            ("threadpool", "threadpool"),
        ],
    ),
    "executor_map_10k": (
        "executor map over 10^4 items, in order",
        [
            ("rayon_par_iter", "rayon par_iter"),
            ("spawn_blocking_vec", "tokio spawn_blocking per item"),
        ],
    ),
    "timer_arm_cancel_10k": (
        "10^4 timers armed + cancelled",
        [("tokio_sleep", "tokio sleep tasks"), ("std_thread_per_timer", "a std thread each")],
    ),
    "timer_fire_10k": (
        "10^4 timers over 50 ms, until all fired",
        [("tokio_sleep", "tokio sleep tasks"), ("std_thread_per_timer", "a std thread each")],
    ),
    "thread_spawn_join": ("thread spawn + join", [("std", "std")]),
}


def fmt_time(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}" if ns / scale < 100 else f"{ns / scale:.0f} {unit}"
    return f"{ns:.3g} ns"


def fmt_ratio(r: float) -> str:
    return f"{r:.2f}" if r >= 0.1 else f"{r:.3f}"


def default_criterion_dir() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return Path(target) / "criterion"
    return Path(__file__).resolve().parent.parent / "target" / "criterion"


def load(criterion_dir: Path, since: float | None = None) -> dict[str, dict[str, float]]:
    """group -> function -> mean ns per iteration. With `since` (a time
    stamp), results written before it are left out, with a warning."""
    results: dict[str, dict[str, float]] = {}
    stale: list[str] = []
    for est in sorted(criterion_dir.glob("*/*/new/estimates.json")):
        if since is not None and est.stat().st_mtime < since:
            stale.append(f"{est.parent.parent.parent.name}/{est.parent.parent.name}")
            continue
        fn_dir = est.parent.parent
        group, function = fn_dir.parent.name, fn_dir.name
        meta = est.parent / "benchmark.json"
        if meta.exists():
            try:
                m = json.loads(meta.read_text())
                group = m.get("group_id", group)
                function = m.get("function_id") or function
            except (OSError, ValueError):
                pass
        mean = json.loads(est.read_text())["mean"]["point_estimate"]
        results.setdefault(group, {})[function] = float(mean)
    if stale:
        groups = sorted({s.split("/")[0] for s in stale})
        print(
            f"left out {len(stale)} results older than this run, in: {', '.join(groups)}",
            file=sys.stderr,
        )
    return results


def target_for(group: str):
    for pattern, desc, peers, factor in TARGETS:
        if re.fullmatch(pattern, group):
            return desc, peers, factor
    return None


def check(group: str, times: dict[str, float], noise: float):
    """(description, verdict, ratio) or None when the group has no target."""
    t = target_for(group)
    if t is None or "amphi" not in times:
        return None
    desc, peers, factor = t
    present = [p for p in peers if p in times]
    if not present:
        return desc, "no peer result", None
    best = min(times[p] for p in present)
    ratio = times["amphi"] / best  # amphi time / best peer time
    return desc, verdict_text(ratio, factor, noise, marks=True), ratio


def verdict_text(ratio: float, factor: float, noise: float, marks: bool) -> str:
    miss = f"missed by {100 * (ratio / factor - 1):.0f}%"
    if ratio <= factor:
        return "✅ met" if marks else "met"
    if ratio <= factor * (1 + noise):
        band = f"within the ±{100 * noise:.0f}% noise band"
        return f"⚠️ {miss} ({band})" if marks else f"tie: {miss}, {band}"
    return f"❌ {miss}" if marks else miss


def readme_rows(results: dict[str, dict[str, float]], groups: list[str], noise: float) -> list[str]:
    """The rows of the README's Performance table (with its header)."""
    out = [
        "| scenario | peers (amphi / peer) | target | verdict |",
        "|---|---|---|---|",
    ]
    for g in groups:
        times = results[g]
        amphi = times["amphi"]
        scenario, shown = README_ROWS.get(
            g, (g, [(f, f) for f in sorted(times, key=times.get) if f != "amphi"])
        )
        peers = ", ".join(f"{name} {fmt_ratio(amphi / times[f])}" for f, name in shown if f in times)
        t = target_for(g)
        if t is None:
            target, verdict = "none", ""
        else:
            target, names, factor = t
            present = [p for p in names if p in times]
            verdict = (
                verdict_text(amphi / min(times[p] for p in present), factor, noise, marks=False)
                if present
                else "no peer result"
            )
        out.append(f"| {scenario} | {peers} | {target} | {verdict} |")
    return out


def hand_written_notes(path: Path) -> str:
    """The hand-written tail of an existing results file: everything from its
    `## Notes` heading on (empty if there is none)."""
    try:
        text = path.read_text()
    except OSError:
        return ""
    m = re.search(r"^## Notes.*", text, flags=re.MULTILINE | re.DOTALL)
    return m.group(0).rstrip() + "\n" if m else ""


def machine_header(note: str) -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [
        f"- date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- nproc: {os.cpu_count()}",
        f"- CPU: {cpu}",
    ]
    if note:
        lines.append(f"- note: {note}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--criterion-dir",
        type=Path,
        default=None,
        help="default: $CARGO_TARGET_DIR/criterion, else target/criterion at the repository root",
    )
    ap.add_argument(
        "--noise",
        type=float,
        default=0.10,
        help="misses smaller than this fraction are flagged as within noise (default 0.10)",
    )
    ap.add_argument("--note", default="", help="a line added to the machine header")
    ap.add_argument("--no-header", action="store_true", help="leave out the machine header")
    ap.add_argument(
        "--since-file",
        type=Path,
        help="leave out results older than this file (a stamp touched before the run)",
    )
    ap.add_argument(
        "--output",
        type=Path,
        help="write the tables to this file instead of stdout, keeping its hand-written "
        "`## Notes` section (from that heading to the end)",
    )
    ap.add_argument(
        "--readme-rows",
        action="store_true",
        help="print the rows of the README's Performance table instead of the tables",
    )
    args = ap.parse_args()
    if args.criterion_dir is None:
        args.criterion_dir = default_criterion_dir()

    since = args.since_file.stat().st_mtime if args.since_file else None
    results = load(args.criterion_dir, since)
    groups = [g for g in results if "amphi" in results[g]]
    if not groups:
        print(f"no criterion results with an `amphi` entry under {args.criterion_dir}", file=sys.stderr)
        return 1
    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    groups.sort(key=lambda g: (order.get(g, len(order)), g))

    if args.readme_rows:
        print("\n".join(readme_rows(results, groups, args.noise)))
        return 0

    out: list[str] = ["# amphi benchmark results", ""]
    if not args.no_header:
        out += machine_header(args.note) + [""]
    out += [
        "Times are criterion's mean per iteration. **ratio = amphi time / peer time: "
        "lower is better for amphi** (0.50 = amphi takes half the time, i.e. twice the "
        "throughput; 2.00 = amphi takes twice as long).",
        "",
        "## Targets",
        "",
        "| group | target | amphi / best named peer | verdict |",
        "|---|---|---|---|",
    ]
    for g in groups:
        c = check(g, results[g], args.noise)
        if c is None:
            continue
        desc, verdict, ratio = c
        r = "n/a" if ratio is None else fmt_ratio(ratio)
        out.append(f"| `{g}` | {desc} | {r} | {verdict} |")
    out += ["", "## All groups", ""]

    for g in groups:
        times = results[g]
        amphi = times["amphi"]
        what = WHAT_IS_ONE_ITERATION.get(g)
        out.append(f"### `{g}`" + (f" (one iteration: {what})" if what else ""))
        out.append("")
        out.append("| implementation | mean time | amphi / this (lower is better for amphi) |")
        out.append("|---|---|---|")
        peers = sorted((f for f in times if f != "amphi"), key=lambda f: times[f])
        out.append(f"| **amphi** | {fmt_time(amphi)} | 1.00 |")
        for p in peers:
            out.append(f"| {p} | {fmt_time(times[p])} | {fmt_ratio(amphi / times[p])} |")
        c = check(g, times, args.noise)
        if c is not None:
            desc, verdict, _ = c
            out.append("")
            out.append(f"Target: {desc}: {verdict}.")
        out.append("")

    text = "\n".join(out).rstrip() + "\n"
    if args.output is None:
        print(text)
        return 0
    notes = hand_written_notes(args.output)
    args.output.write_text(text + ("\n" + notes if notes else ""))
    print(f"wrote {args.output}" + (" (hand-written notes kept)" if notes else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
