#!/usr/bin/env python3
"""Weft beside the no-engine baseline, from one results folder of `loadtest/run` (W3).

Prints a table (and writes ratios.json beside the figures): throughput at saturation, CPU per
run of the whole stack (weft + postgres + nats, and the generator, which also runs the echo
server) at each rate, p50 and p99 latency; each Weft figure also as a ratio to the baseline's.
"""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1])


def load(name):
    path = out / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def stack_ms(fig, names):
    per = (fig.get("cpu") or {}).get("ms_per_run") or {}
    return sum(per.get(n, 0.0) for n in names)


rows = []
result = {}
for name in ["fixed-20", "fixed-100", "fixed-500", "saturate"]:
    w, b = load(name), load(f"baseline-{name}")
    if not w or not b:
        continue
    w_cpu = stack_ms(w, ["weft", "postgres", "nats"])
    b_cpu = stack_ms(b, ["baseline"])
    entry = {
        "weft": {"runs_per_s": w["completed_per_s"], "p50_ms": w["latency_ms"]["p50"],
                 "p99_ms": w["latency_ms"]["p99"], "cpu_ms_per_run": w_cpu,
                 "cpu_ms_per_run_by_process": (w.get("cpu") or {}).get("ms_per_run"),
                 "lost": w["lost"]},
        "baseline": {"runs_per_s": b["completed_per_s"], "p50_ms": b["latency_ms"]["p50"],
                     "p99_ms": b["latency_ms"]["p99"], "cpu_ms_per_run": b_cpu,
                     "cpu_ms_per_run_by_process": (b.get("cpu") or {}).get("ms_per_run"),
                     "lost": b["lost"]},
    }
    entry["ratio"] = {
        "runs_per_s": w["completed_per_s"] / b["completed_per_s"] if b["completed_per_s"] else None,
        "cpu_ms_per_run": w_cpu / b_cpu if b_cpu else None,
        "p50_ms_over_baseline": w["latency_ms"]["p50"] - b["latency_ms"]["p50"],
    }
    result[name] = entry
    rows.append((name, entry))

(out / "ratios.json").write_text(json.dumps(result, indent=2) + "\n")
print(f"{'run':<10} {'weft/s':>8} {'base/s':>8} {'ratio':>6} {'weft cpu ms':>11} "
      f"{'base cpu ms':>11} {'ratio':>6} {'weft p50':>9} {'base p50':>9} {'weft p99':>9}")
for name, e in rows:
    w, b, r = e["weft"], e["baseline"], e["ratio"]
    print(f"{name:<10} {w['runs_per_s']:>8.1f} {b['runs_per_s']:>8.1f} {r['runs_per_s'] or 0:>6.2f} "
          f"{w['cpu_ms_per_run']:>11.2f} {b['cpu_ms_per_run']:>11.2f} {r['cpu_ms_per_run'] or 0:>6.2f} "
          f"{w['p50_ms']:>9.1f} {b['p50_ms']:>9.1f} {w['p99_ms']:>9.1f}")
