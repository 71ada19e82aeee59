#!/usr/bin/env python3
"""The measurement pass behind docs/perf.md: every criterion bench, in two rounds.

    python3 scripts/perf.py                    # all benches, both rounds
    python3 scripts/perf.py spinlock mutex     # some of them
    python3 scripts/perf.py --measure 2 --warm-up 1

Each bench runs once with KSYNC_BENCH_ROUND=0 and once with KSYNC_BENCH_ROUND=1, which reverses
the order in which it registers its contenders (the first contender measured in a round is
penalised on a shared machine). For every benchmark the script keeps criterion's median of each
round and prints, per bench, a markdown table of both rounds and their mean; docs/perf.md quotes
these tables. Raw results go to target/perf/<bench>.json.

The contended throughput tables come from the ksync tool instead; this script renders its JSON:

    cargo run --release -p ksync-cli -- bench --json ... > target/perf/bench.json
    python3 scripts/perf.py --bench-json target/perf/bench.json
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

BENCHES = ["barrier", "atomic", "percpu", "futex", "refcount", "spinlock", "mutex", "compat"]


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", "target"))


def run_round(bench: str, round_no: int, warm_up: float, measure: float) -> dict:
    crit = target_dir() / "criterion"
    shutil.rmtree(crit, ignore_errors=True)
    env = dict(os.environ, KSYNC_BENCH_ROUND=str(round_no))
    cmd = [
        "cargo", "bench", "--quiet", "--bench", bench, "--",
        "--warm-up-time", str(warm_up), "--measurement-time", str(measure),
    ]
    print(f"+ KSYNC_BENCH_ROUND={round_no} {' '.join(cmd)}", file=sys.stderr, flush=True)
    subprocess.run(cmd, env=env, check=True, stdout=sys.stderr)
    medians = {}
    for bj in crit.rglob("new/benchmark.json"):
        meta = json.loads(bj.read_text())
        est = json.loads((bj.parent / "estimates.json").read_text())
        medians[meta["full_id"]] = est["median"]["point_estimate"]
    return medians


def fmt_ns(x: float) -> str:
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_mops(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def fmt_wait(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.1f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def bench_tables(path: Path) -> None:
    """Markdown tables of a `ksync bench --json` run: one per (cs, ncs) shape, a row per lock,
    a column per thread count with the median Mops/s and fairness; then the wait latencies."""
    doc = json.loads(path.read_text())
    pts = doc["points"]
    cores = doc["machine"]["cores"]
    locks = list(dict.fromkeys(p["lock"] for p in pts))
    threads = sorted({p["threads"] for p in pts})
    shapes = sorted({(p["cs"], p["ncs"]) for p in pts})
    at = {(p["lock"], p["threads"], p["cs"], p["ncs"]): p for p in pts}
    star = lambda t: f"{t}*" if t > cores else str(t)
    def cell_mops(p: dict) -> str:
        return f"{fmt_mops(p['mops'])} ({p['fairness']:.2f})"

    def cell_wait(p: dict) -> str:
        w = p["wait_ns"]
        return f"{fmt_wait(w['p99'])} / {fmt_wait(w['max'])}" if w else "-"

    for title, cell in (("Mops/s (fairness)", cell_mops), ("wait p99 / max", cell_wait)):
        for cs, ncs in shapes:
            print(f"\n#### cs={cs}, ncs={ncs}: {title}\n")
            print("| lock | " + " | ".join(f"{star(t)} threads" for t in threads) + " |")
            print("|---|" + "---|" * len(threads))
            for lock in locks:
                p = [at.get((lock, t, cs, ncs)) for t in threads]
                print(f"| `{lock}` | " + " | ".join("-" if q is None else cell(q) for q in p) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("benches", nargs="*", default=BENCHES)
    ap.add_argument("--warm-up", type=float, default=1.0, help="criterion warm-up seconds")
    ap.add_argument("--measure", type=float, default=2.0, help="criterion measurement seconds")
    ap.add_argument("--bench-json", type=Path, help="render a `ksync bench --json` file and exit")
    args = ap.parse_args()
    if args.bench_json:
        bench_tables(args.bench_json)
        return
    out_dir = target_dir() / "perf"
    out_dir.mkdir(parents=True, exist_ok=True)
    for bench in args.benches:
        rounds = [run_round(bench, r, args.warm_up, args.measure) for r in (0, 1)]
        (out_dir / f"{bench}.json").write_text(json.dumps(rounds, indent=1))
        print(f"\n### {bench} (criterion median, ns; rounds 0 and 1, mean)\n")
        print("| benchmark | round 0 | round 1 | mean |")
        print("|---|---|---|---|")
        for name in sorted(set(rounds[0]) | set(rounds[1])):
            vals = [r.get(name) for r in rounds]
            have = [v for v in vals if v is not None]
            mean = sum(have) / len(have)
            cells = " | ".join(fmt_ns(v) if v is not None else "-" for v in vals)
            print(f"| `{name}` | {cells} | {fmt_ns(mean)} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
