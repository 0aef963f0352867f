#!/usr/bin/env python3
"""The live view and the summary of `make demo-cluster` (tools/demo-cluster.sh). Stdlib only.

  demo-view.py workload --seed N --span SECONDS NAMESPACE...
      Prints the generated workload, one Job per line: "OFFSET NAMESPACE NAME GPUS RUN_FOR".
  demo-view.py render  --state FILE [--metrics FILE] [--anchor T --period S --periods N] [--tty]
  demo-view.py summary --state FILE [--metrics FILE] [--anchor T --period S --periods N] [--log F]
      Read `kubectl get computebudgets,gpunodepools,jobs,pods,nodes -A -o json` on stdin.
      render draws one frame (the whole screen on a TTY, one line otherwise); both remember in
      FILE what scrolls out of status.recentActions (period summaries, actions, held Jobs).
"""
import argparse
import datetime
import json
import os
import random
import re
import shutil
import sys
import time

UTC = datetime.timezone.utc
ENDED = re.compile(r"period (\S+) ended with (-?[0-9.]+) spent(?: of (-?[0-9.]+))?")


def ts(s):
    if not s:
        return None
    return datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


def hhmmss(t):
    return datetime.datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


def num(s, default=0.0):
    try:
        return float(s)
    except (TypeError, ValueError):
        return default


def gpus_of(pod_spec):
    total = 0
    for c in pod_spec.get("containers", []):
        res = c.get("resources", {})
        total += int(res.get("limits", {}).get("nvidia.com/gpu", res.get("requests", {}).get("nvidia.com/gpu", 0)))
    return total


def workload(args):
    # One stream of Jobs per namespace: gaps of 3-12 s, 1-4 GPUs (mostly 1-2), 20-60 s each.
    for ns in args.namespaces:
        rng = random.Random(f"{args.seed}/{ns}")
        t, i = rng.uniform(0, 3), 0
        while t < args.span:
            i += 1
            gpus = rng.choice([1, 1, 1, 2, 2, 2, 3, 4])
            print(f"{t:.1f} {ns} {ns}-{i:03d} {gpus} {rng.randrange(20, 61, 5)}s")
            t += rng.uniform(3, 12)


class World:
    """The objects of one `kubectl get -o json` list, grouped per budget."""

    def __init__(self, doc):
        items = doc.get("items", [])
        kind = lambda k: [o for o in items if o.get("kind") == k]  # noqa: E731
        self.budgets = sorted(kind("ComputeBudget"), key=lambda b: b["metadata"]["name"])
        self.pools = kind("GPUNodePool")
        self.jobs = kind("Job")
        self.pods = kind("Pod")
        self.nodes = kind("Node")

    def namespaces(self, budget):
        return set(budget["spec"].get("scope", {}).get("namespaces", []))

    def jobs_of(self, budget):
        ns = self.namespaces(budget)
        return [j for j in self.jobs if j["metadata"]["namespace"] in ns]

    def running_gpus(self, budget):
        ns = self.namespaces(budget)
        return sum(gpus_of(p["spec"]) for p in self.pods
                   if p["metadata"]["namespace"] in ns and p.get("status", {}).get("phase") == "Running")

    def job_counts(self, budget):
        c = {"submitted": 0, "completed": 0, "suspended": 0, "running": 0, "waiting": 0}
        active = {}
        for p in self.pods:
            owner = p["metadata"].get("labels", {}).get("job-name")
            if owner and p.get("status", {}).get("phase") in ("Running", "Pending"):
                key = (p["metadata"]["namespace"], owner)
                active[key] = active.get(key, "") or p["status"]["phase"]
                if p["status"]["phase"] == "Running":
                    active[key] = "Running"
        for j in self.jobs_of(budget):
            c["submitted"] += 1
            st = j.get("status", {})
            if st.get("succeeded", 0) > 0:
                c["completed"] += 1
            elif j["spec"].get("suspend"):
                c["suspended"] += 1
            elif active.get((j["metadata"]["namespace"], j["metadata"]["name"])) == "Running":
                c["running"] += 1
            else:
                c["waiting"] += 1
        return c

    def pool_nodes(self, pool):
        sel = pool["spec"].get("nodeSelector", {})
        return [n for n in self.nodes
                if all(n["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())]


def load_state(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"periods": {}, "actions": {}, "held": {}, "peak_nodes": 0}


def remember(state, world):
    """Keeps what status.recentActions (20 entries) and Job annotations forget."""
    for b in world.budgets:
        name = b["metadata"]["name"]
        periods = state["periods"].setdefault(name, {})
        actions = state["actions"].setdefault(name, {})
        for a in b.get("status", {}).get("recentActions", []) or []:
            m = ENDED.search(a.get("message", "")) if a.get("reason") == "NewPeriod" else None
            if m:
                periods[m.group(1)] = a["message"]
            if a.get("action"):
                key = f'{a.get("time")}|{a.get("action")}|{a.get("target", "")}'
                actions[key] = ("DryRun" if a.get("dryRun") else "") + a["action"]
        held = state["held"].setdefault(name, {})
        for j in world.jobs_of(b):
            rung = j["metadata"].get("annotations", {}).get("bursar.dev/held-for")
            if rung:
                seen = held.setdefault(j["metadata"]["name"], [])
                if rung not in seen:
                    seen.append(rung)
    nodes = sum(len(world.pool_nodes(p)) for p in world.pools)
    state["peak_nodes"] = max(state.get("peak_nodes", 0), nodes)


def metrics(path):
    out = {}
    if not path:
        return out
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r'bursar_actions_total\{action="([^"]+)"\} ([0-9.e+]+)', line)
                if m and float(m.group(2)) > 0:
                    out[m.group(1)] = int(float(m.group(2)))
    except OSError:
        pass
    return out


def bar(spent, limit, frac, paced, width=20):
    """[#####:....|.....]: '#' spend against the limit, '|' the even pacing line now."""
    if limit <= 0:
        return "[" + "?" * width + "]"
    filled = min(width, int(round(spent / limit * width)))
    cells = ["#"] * filled + ["."] * (width - filled)
    if paced and frac is not None:
        at = min(width - 1, max(0, int(round(frac * width)) - 1))
        cells[at] = "|"
    over = f" +{(spent / limit - 1) * 100:.0f}%" if spent > limit * 1.005 else ""
    return "[" + "".join(cells) + "]" + over


def describe(b):
    spec = b["spec"]
    mode = spec.get("pacing", {}).get("mode", "Even")
    enf = spec.get("enforcement", "Enforce")
    return f"{mode}" + (" DryRun" if enf == "DryRun" else "")


def frame_lines(world, state, args, now, width):
    lines = []
    pos = ""
    if args.anchor:
        a = ts(args.anchor)
        el = now - a
        if el < 0:
            pos = f"first period starts in {-el:.0f}s"
        else:
            k = int(el // args.period)
            left = args.period - el % args.period
            pos = (f"period {k + 1} of {args.periods}, {left:.0f}s left"
                   if k < args.periods else "the last period has ended")
    lines.append(f"Bursar live demo  {hhmmss(now)} UTC  {pos}")
    lines.append("")
    lines.append(f"{'BUDGET':<9} {'MODE':<11} {'PHASE':<12} {'SPENT/LIMIT':>15}  "
                 f"{'SPEND vs PACING LINE |':<28} {'ALLOW':>5} {'RUN':>4} {'WAIT':>4} {'SUSP':>4} {'DONE':>4}")
    for b in world.budgets:
        st = b.get("status", {}) or {}
        limit = num(b["spec"].get("limit", {}).get("amount"))
        spent = num(st.get("spent"))
        frac = None
        p = st.get("period", {}) or {}
        if p.get("start") and p.get("end"):
            s, e = ts(p["start"]), ts(p["end"])
            frac = min(1.0, max(0.0, (now - s) / (e - s))) if e > s else None
        paced = b["spec"].get("pacing", {}).get("mode", "Even") == "Even"
        c = world.job_counts(b)
        allowed = st.get("allowedGPUs", "-")
        money = f"${spent:.2f}/${limit:.0f}"
        lines.append(f"{b['metadata']['name']:<9} {describe(b):<11} {st.get('phase', '-'):<12} {money:>15}  "
                     f"{bar(spent, limit, frac, paced):<28} {allowed!s:>5} {world.running_gpus(b):>4} "
                     f"{c['waiting']:>4} {c['suspended']:>4} {c['completed']:>4}")
        acts = [a for a in st.get("recentActions", []) or [] if a.get("reason") != "NewPeriod"]
        if acts:
            a = acts[-1]
            tag = "would " if a.get("dryRun") else ""
            msg = f"{hhmmss(ts(a.get('time')) or now)} {tag}{a.get('action')}: {a.get('message', '')}"
            lines.append("          last: " + msg[: max(20, width - 16)])
    lines.append("")
    for pool in world.pools:
        ps = pool.get("status", {}) or {}
        nodes = world.pool_nodes(pool)
        cap = sum(int(n.get("status", {}).get("capacity", {}).get("nvidia.com/gpu", 0)) for n in nodes)
        names = {n["metadata"]["name"] for n in nodes}
        used = sum(gpus_of(p["spec"]) for p in world.pods
                   if p["spec"].get("nodeName") in names and p.get("status", {}).get("phase") == "Running")
        lines.append(f"pool {pool['metadata']['name']}: {len(nodes)} nodes (desired {ps.get('desiredNodes', '-')}, "
                     f"max {pool['spec'].get('maxNodes')}), {used}/{cap} GPUs busy  "
                     + "#" * len(nodes) + "." * max(0, int(pool["spec"].get("maxNodes", 0)) - len(nodes)))
    m = metrics(args.metrics)
    if m:
        lines.append("operator actions so far: " + ", ".join(f"{k} {v}" for k, v in sorted(m.items())))
    lines.append("")
    lines.append("ALLOW: GPUs the budget allows now; RUN: GPUs running; WAIT/SUSP/DONE: Jobs waiting, "
                 "suspended by Bursar, completed")
    return lines


def one_line(world, now, args):
    parts = []
    if args.anchor:
        parts.append(f"+{now - ts(args.anchor):4.0f}s")
    for b in world.budgets:
        st = b.get("status", {}) or {}
        c = world.job_counts(b)
        parts.append(f"{b['metadata']['name']} {st.get('phase', '-')} ${num(st.get('spent')):.2f}/"
                     f"${num(b['spec'].get('limit', {}).get('amount')):.0f} allow {st.get('allowedGPUs', '-')} "
                     f"run {world.running_gpus(b)} wait {c['waiting']} susp {c['suspended']}")
    for pool in world.pools:
        parts.append(f"pool {pool['metadata']['name']} {len(world.pool_nodes(pool))} nodes")
    return " | ".join(parts)


def render(args, world, state):
    now = time.time()
    if args.tty:
        width = shutil.get_terminal_size((120, 40)).columns
        sys.stdout.write("\033[H\033[2J" + "\n".join(frame_lines(world, state, args, now, width)) + "\n")
    else:
        print(one_line(world, now, args))
    sys.stdout.flush()


def summary(args, world, state):
    first = ts(args.anchor) if args.anchor else 0
    print("Summary")
    print("=======")
    for b in world.budgets:
        name = b["metadata"]["name"]
        spec = b["spec"]
        limit = num(spec.get("limit", {}).get("amount"))
        print(f"\n{name}: ${limit:g} per {spec['period'].get('duration', '?')}, pacing "
              f"{spec.get('pacing', {}).get('mode', 'Even')}, {spec.get('enforcement', 'Enforce')}, "
              f"namespaces {', '.join(sorted(world.namespaces(b)))}")
        periods = state["periods"].get(name, {})
        shown = 0
        for start in sorted(periods, key=lambda s: ts(s) or 0):
            if (ts(start) or 0) < first:
                continue  # the stub period before the demo's first one
            m = ENDED.search(periods[start])
            spent = num(m.group(2))
            lim = num(m.group(3), limit)
            verdict = "within the limit" if spent <= lim + 1e-9 else f"OVER by ${spent - lim:.2f}"
            print(f"  period {hhmmss(ts(start))}: spent ${spent:.2f} of ${lim:g} "
                  f"({spent / lim * 100 if lim else 0:.0f}%), {verdict}")
            shown += 1
        st = b.get("status", {}) or {}
        cur = ts((st.get("period") or {}).get("start")) or 0
        if first <= cur < first + args.periods * args.period:
            print(f"  period {hhmmss(ts(st['period']['start']))} (cut short by the end of the demo): "
                  f"${num(st.get('spent')):.2f} so far")
        if not shown:
            print("  no completed period recorded (see the operator log)")
        c = world.job_counts(b)
        held = state["held"].get(name, {})
        n_hold = sum(1 for r in held.values() if "Hold" in r)
        n_drain = sum(1 for r in held.values() if "Drain" in r)
        print(f"  Jobs: {c['submitted']} submitted, {c['completed']} completed, {c['running']} running, "
              f"{c['waiting']} waiting, {c['suspended']} suspended now; "
              f"{n_hold} held at submission, {n_drain} drained while running")
        counts, jobs = {}, {}
        for key, act in state["actions"].get(name, {}).items():
            counts[act] = counts.get(act, 0) + 1
            target = key.split("|", 2)[2]
            if target.startswith("Job/"):
                jobs.setdefault(act, set()).add(target)
        if spec.get("enforcement") == "DryRun":
            print("  DryRun: the decisions below were only recorded; Bursar held and drained nothing")
        if counts:
            print("  decisions seen in status.recentActions: " + ", ".join(
                f"{k} x{v}" + (f" ({len(jobs[k])} Job{'s' if len(jobs[k]) != 1 else ''})" if k in jobs else "") for k, v in sorted(counts.items())))
    print(f"\nPool: at most {state.get('peak_nodes', 0)} nodes at once")
    m = metrics(args.metrics)
    if m:
        print("Operator actions (bursar_actions_total): " + ", ".join(f"{k} {v}" for k, v in sorted(m.items())))
    if args.log:
        print(f"Operator log: {args.log}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("workload")
    w.add_argument("--seed", default="1")
    w.add_argument("--span", type=float, required=True)
    w.add_argument("namespaces", nargs="+")
    for name in ("render", "summary"):
        p = sub.add_parser(name)
        p.add_argument("--state", required=True)
        p.add_argument("--metrics")
        p.add_argument("--anchor")
        p.add_argument("--period", type=float, default=120)
        p.add_argument("--periods", type=int, default=2)
        p.add_argument("--log")
        p.add_argument("--tty", action="store_true")
    args = ap.parse_args()
    if args.cmd == "workload":
        return workload(args)
    try:
        world = World(json.load(sys.stdin))
    except ValueError:
        print("(no snapshot this time: the API server did not answer)")
        return 0
    state = load_state(args.state)
    remember(state, world)
    tmp = args.state + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, args.state)
    (render if args.cmd == "render" else summary)(args, world, state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
