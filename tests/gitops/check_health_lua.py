#!/usr/bin/env python3
"""Runs the Argo CD health checks in docs/gitops.md on sample objects.

Extracts the argocd-cm YAML block of docs/gitops.md (it must parse and hold both keys), then runs
each Lua script with a Lua interpreter ($LUA, else lua5.4, lua5.3, lua5.1, lua or luajit on PATH)
the way Argo CD does: `obj` is the object, the script returns {status, message}. Argo CD embeds
gopher-lua (Lua 5.1), so the scripts keep to Lua 5.1. Exits 0 when every sample gets the expected
health, 1 otherwise, 77 (skipped) when no interpreter is found.
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import yaml

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "gitops.md"
KEY = "resource.customizations.health.bursar.dev_"


def lua_literal(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        safe = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:_-/"
        return '"' + "".join(chr(b) if b in safe else "\\%03d" % b for b in v.encode()) + '"'
    if isinstance(v, list):
        return "{" + ", ".join(lua_literal(x) for x in v) + "}"
    if isinstance(v, dict):  # None values are left out: a missing field is nil in Lua too
        return "{" + ", ".join(f"[{lua_literal(k)}] = {lua_literal(x)}" for k, x in v.items() if x is not None) + "}"
    raise TypeError(v)


def ready(status, reason="Enforcing", message="on track"):
    return [{"type": "Ready", "status": status, "reason": reason, "message": message}]


def budget(generation=1, **status):
    obj = {"apiVersion": "bursar.dev/v1alpha1", "kind": "ComputeBudget",
           "metadata": {"name": "team-vision", "generation": generation},
           "spec": {"limit": {"amount": "40", "currency": "USD"}}}
    if status:
        obj["status"] = status
    return obj


def pool(**status):
    obj = {"apiVersion": "bursar.dev/v1alpha1", "kind": "GPUNodePool", "metadata": {"name": "a100", "generation": 1}}
    if status:
        obj["status"] = status
    return obj


CASES = [  # (kind, description, object, expected status, text the message must contain)
    ("ComputeBudget", "no status yet", budget(), "Progressing", ""),
    ("ComputeBudget", "spec not observed yet", budget(2, observedGeneration=1, phase="WithinBudget", conditions=ready("True")), "Progressing", ""),
    ("ComputeBudget", "no Ready condition", budget(observedGeneration=1), "Progressing", ""),
    ("ComputeBudget", "Ready=Unknown", budget(observedGeneration=1, conditions=ready("Unknown")), "Progressing", ""),
    ("ComputeBudget", "Ready=False", budget(observedGeneration=1, conditions=ready("False", "PriceBookNotFound", 'PriceBook "gold" not found')), "Degraded", 'PriceBookNotFound: PriceBook "gold" not found'),
    ("ComputeBudget", "WithinBudget", budget(observedGeneration=1, phase="WithinBudget", spent="1.50", conditions=ready("True")), "Healthy", "WithinBudget, spent 1.50 of 40"),
    ("ComputeBudget", "AtRisk", budget(observedGeneration=1, phase="AtRisk", spent="30", conditions=ready("True")), "Healthy", "AtRisk"),
    ("ComputeBudget", "Throttled", budget(observedGeneration=1, phase="Throttled", spent="31.2", conditions=ready("True")), "Healthy", "Throttled, spent 31.2 of 40"),
    ("ComputeBudget", "Held", budget(observedGeneration=1, phase="Held", spent="38", conditions=ready("True", message="amount: 96% of the ceiling")), "Degraded", "Held, spent 38 of 40: amount: 96% of the ceiling"),
    ("ComputeBudget", "Exhausted", budget(observedGeneration=1, phase="Exhausted", spent="40", conditions=ready("True")), "Degraded", "Exhausted"),
    ("ComputeBudget", "GPU-hour limit only", {**budget(observedGeneration=1, phase="WithinBudget", conditions=ready("True")), "spec": {"limit": {"gpuHours": "800"}}}, "Healthy", "WithinBudget"),
    ("GPUNodePool", "no status yet", pool(), "Progressing", ""),
    ("GPUNodePool", "growing", pool(observedGeneration=1, currentNodes=2, desiredNodes=4, lastScaleReason="budget vision"), "Progressing", "Scaling from 2 to 4 nodes: budget vision"),
    ("GPUNodePool", "shrinking", pool(observedGeneration=1, currentNodes=3, desiredNodes=1), "Progressing", "Scaling from 3 to 1 nodes"),
    ("GPUNodePool", "steady", pool(observedGeneration=1, currentNodes=3, desiredNodes=3), "Healthy", "3 nodes"),
    ("GPUNodePool", "empty", pool(observedGeneration=1, currentNodes=0, desiredNodes=0), "Healthy", "0 nodes"),
]


def scripts():
    text = DOC.read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if KEY in b]
    if len(blocks) != 1:
        sys.exit(f"FAIL: expected one yaml block with {KEY}* in {DOC}, found {len(blocks)}")
    data = yaml.safe_load(blocks[0])["data"]
    found = {k[len(KEY):]: v for k, v in data.items() if k.startswith(KEY)}
    missing = {"ComputeBudget", "GPUNodePool"} - found.keys()
    if missing:
        sys.exit(f"FAIL: argocd-cm in {DOC} has no health check for {', '.join(sorted(missing))}")
    return found


def interpreter():
    if os.environ.get("LUA"):
        return os.environ["LUA"]
    for name in ("lua5.4", "lua5.3", "lua5.1", "lua", "luajit"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def main():
    checks = scripts()
    lua = interpreter()
    if lua is None:
        print("SKIP: no Lua interpreter (lua5.4, lua, luajit; or set LUA=/path/to/lua); "
              "the argocd-cm block parsed and holds both health checks")
        return 77
    failed = 0
    for kind, what, obj, want, text in CASES:
        program = (f"obj = {lua_literal(obj)}\nlocal function check()\n{checks[kind]}\nend\n"
                   "local hs = check()\nio.write(tostring(hs.status), '\\t', tostring(hs.message))\n")
        run = subprocess.run([lua, "-"], input=program, capture_output=True, text=True)
        status, _, message = run.stdout.partition("\t")
        ok = run.returncode == 0 and status == want and text in message
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'}  {kind} {what}: {status or run.stderr.strip()} ({message})")
    print(f"{len(CASES) - failed} passed, {failed} failed ({lua})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
