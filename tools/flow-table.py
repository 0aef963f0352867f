#!/usr/bin/env python3
"""Prints the mean-flow table of docs/simulate.md for every scenario in a folder.

    python3 tools/flow-table.py build/bursar examples/scenarios [--order fifo|length]

For each scenario it runs `bursar simulate --scenario S --policy all --output json --quiet` and
prints one Markdown row: Bursar's full periods over the limit and the share of each full
period's limit it used (min-max), its boundary drains, and the mean flow (every submitted Job's
time in the system, jobs-weighted over the enforced budgets) of bursar, of the same-spend static
quota (with its spend against Bursar's) and of no enforcement, with the ratio static / bursar.
"""
import json
import os
import subprocess
import sys


def flow_hours(report):
    """Jobs-weighted mean flow over the enforced budgets, in hours."""
    total = jobs = 0
    for b in report["budgets"]:
        if not b["enforced"]:
            continue
        n = b["jobsSubmitted"] - b["jobsUnschedulable"]
        total += b["meanFlowSeconds"] * n
        jobs += n
    return total / jobs / 3600 if jobs else 0.0


def cost(report):
    return sum(b["cost"] for b in report["budgets"] if b["enforced"])


def row(binary, path, extra):
    out = subprocess.run([binary, "simulate", "--scenario", path, "--policy", "all", "--output",
                          "json", "--quiet"] + extra, check=True, capture_output=True,
                         text=True).stdout
    reports = {r["policy"]: r for r in json.loads(out)}
    bursar = reports["bursar"]
    same = reports["static-quota (same spend)"]
    none = reports["none"]
    over = full = drains = 0
    used = []
    for b in bursar["budgets"]:
        if not b["enforced"]:
            continue
        drains += b["boundaryDrains"]
        for p in b["periods"]:
            if p["complete"]:
                full += 1
                over += 1 if p["overLimit"] else 0
                used.append(100 * p["spent"] / p["limit"] if p["limit"] else 0)
    used_text = f"{min(used):.0f}–{max(used):.0f}" if used else "–"
    fb, fs, fn = flow_hours(bursar), flow_hours(same), flow_hours(none)
    ratio = fs / fb if fb else 0
    name = os.path.splitext(os.path.basename(path))[0]
    return (f"| {name} | {over}/{full} / {used_text} | {drains} | {fb:.1f} h | "
            f"{fs:.1f} h ({cost(same):.0f} vs {cost(bursar):.0f}) | {ratio:.2f}× | {fn:.1f} h |")


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return
    if len(sys.argv) < 3:
        sys.exit(f"usage: {__doc__.strip().splitlines()[2].strip()}")
    binary, folder, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    print("| Scenario | Bursar: full periods over / used (min–max %) | boundary drains | "
          "mean flow: bursar | static-quota (same spend) | static / bursar | none |")
    print("|---|---|---|---|---|---|---|")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".yaml"):
            print(row(binary, os.path.join(folder, name), extra), flush=True)


if __name__ == "__main__":
    main()
