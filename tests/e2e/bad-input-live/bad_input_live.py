#!/usr/bin/env python3
"""Applies the live bad-input suite (cases.txt) to a running operator, with a watchdog.

Every case is sent to the API server as a create (strict field validation, as kubectl does).
A "rejected" case must be refused with its expected text in the message and not be stored; a
"NotReady:REASON" case must be stored, then get Ready=False with REASON, a message with its
expected text and a Warning Event with REASON. Cases go in batches; every object stays while
the next batches run, so the operator ends up holding all of them at once.

The watchdog runs throughout, every 0.25 s: the valid budgets' status.ledger.watermark must
keep up with the clock (lag = now - watermark at most --max-lag seconds: no case delays their
metering by more than a tick), the operator's /healthz must answer 200 and its process must
live. Writes one line per check to --results: "PASS|FAIL<TAB>name<TAB>detail".
"""
import argparse
import datetime
import functools  # noqa: F401  (cases may use it in py: expressions)
import json
import os
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

PLURAL = {"ComputeBudget": "computebudgets", "GPUNodePool": "gpunodepools",
          "PriceBook": "pricebooks"}


def bases(name):
    """The valid object of each kind that a case's patch is merged into."""
    return {
        "ComputeBudget": {"spec": {
            "scope": {"namespaces": [name]},
            "limit": {"amount": "100", "currency": "USD"},
            "period": {"type": "Daily", "timeZone": "UTC"}}},
        "GPUNodePool": {"spec": {
            "provider": {"type": "Kwok"}, "nodeSelector": {"bursar.dev/pool": name},
            "gpuType": "NVIDIA-A100-SXM4-80GB", "gpusPerNode": 8, "pricePerNodeHour": "8",
            "minNodes": 0, "maxNodes": 1}},
        "PriceBook": {"spec": {
            "currency": "USD",
            "gpus": [{"model": "NVIDIA-A100-SXM4-80GB", "pricePerHour": "1"}]}},
    }


def merge(base, patch):
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return patch
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def load_cases(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cols = [c.strip() for c in line.rstrip("\n").split("|", 4)]
            if len(cols) != 5:
                sys.exit(f"{path}:{lineno}: expected 5 columns separated by '|', got {len(cols)}")
            name, kind, outcome, expect, patch_text = cols
            if kind not in PLURAL:
                sys.exit(f"{path}:{lineno}: unknown kind {kind!r}")
            if outcome != "rejected" and not outcome.startswith("NotReady:"):
                sys.exit(f"{path}:{lineno}: outcome must be 'rejected' or 'NotReady:REASON'")
            obj_name = "bi-" + name
            patch_text = patch_text.replace("$NAME", obj_name)
            try:
                if patch_text.startswith("py:"):
                    patch = eval(patch_text[3:], {"__builtins__": {"range": range, "__import__": __import__}})
                else:
                    patch = yaml.safe_load(patch_text)
            except Exception as e:  # a broken case is a broken test, said with its line
                sys.exit(f"{path}:{lineno}: PATCH does not parse: {e}")
            obj = merge(bases(obj_name)[kind], patch)
            obj = merge({"apiVersion": "bursar.dev/v1alpha1", "kind": kind,
                         "metadata": {"name": obj_name}}, obj)
            cases.append({"name": name, "kind": kind, "outcome": outcome, "expect": expect,
                          "object": obj, "line": lineno})
    names = [c["name"] for c in cases]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        sys.exit(f"{path}: duplicate case names {sorted(dup)}")
    return cases


class Api:
    def __init__(self):
        self.base = os.environ["BURSAR_TEST_APISERVER"].rstrip("/")
        self.ctx = ssl.create_default_context(cafile=os.environ["BURSAR_TEST_CA_FILE"])
        self.ctx.load_cert_chain(os.environ["BURSAR_TEST_CLIENT_CERT_FILE"],
                                 os.environ["BURSAR_TEST_CLIENT_KEY_FILE"])

    def call(self, method, path, body=None, timeout=20):
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, {"message": raw.decode(errors="replace")[:2000]}

    def get(self, kind, name):
        return self.call("GET", f"/apis/bursar.dev/v1alpha1/{PLURAL[kind]}/{urllib.parse.quote(name)}")


def parse_time(text):
    whole, _, frac = text.rstrip("Z").partition(".")
    t = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return t + (float("0." + frac) if frac else 0.0)


class Watchdog(threading.Thread):
    """Polls the valid budgets' watermarks, /healthz and the process every 0.25 s."""

    def __init__(self, api, budgets, health, pid):
        super().__init__(daemon=True)
        self.api, self.budgets, self.health, self.pid = api, budgets, health, pid
        self.stop = threading.Event()
        self.max_lag = {b: 0.0 for b in budgets}
        self.polls = 0
        self.health_failures = []
        self.dead = None
        self.advances = {b: 0 for b in budgets}
        self._last = {b: None for b in budgets}

    def run(self):
        while not self.stop.is_set():
            now = time.time()
            for b in self.budgets:
                try:
                    code, obj = self.api.get("ComputeBudget", b)
                    mark = parse_time(obj["status"]["ledger"]["watermark"])
                except Exception as e:
                    self.health_failures.append(f"{time.strftime('%H:%M:%S')} {b}: {e}")
                    continue
                self.max_lag[b] = max(self.max_lag[b], now - mark)
                if self._last[b] is not None and mark > self._last[b]:
                    self.advances[b] += 1
                self._last[b] = mark
            try:
                with urllib.request.urlopen(f"http://{self.health}/healthz", timeout=2) as r:
                    if r.status != 200:
                        self.health_failures.append(f"{time.strftime('%H:%M:%S')} /healthz {r.status}")
            except Exception as e:
                self.health_failures.append(f"{time.strftime('%H:%M:%S')} /healthz: {e}")
            try:
                os.kill(self.pid, 0)
            except OSError:
                self.dead = self.dead or time.strftime("%H:%M:%S")
            self.polls += 1
            self.stop.wait(0.25)


# kube-apiserver's limit on a request body (MaxRequestBodyBytes).
MAX_REQUEST_BYTES = 3 * 1024 * 1024


def create(api, case):
    plural = PLURAL[case["kind"]]
    try:
        return api.call("POST", f"/apis/bursar.dev/v1alpha1/{plural}?fieldValidation=Strict",
                        case["object"])
    except (urllib.error.URLError, ConnectionError, ssl.SSLError) as e:
        # A body over the limit is refused once the headers are read, and the API server may close
        # the connection while the rest is still being sent: the client then sees the connection
        # closed (an SSL EOF) instead of the 413. Refused all the same if the object does not exist.
        size = len(json.dumps(case["object"]).encode())
        code, _ = api.get(case["kind"], case["object"]["metadata"]["name"])
        if size > MAX_REQUEST_BYTES and code == 404:
            return 413, {"message": f"Request entity too large: the API server closed the "
                                    f"connection while {size} bytes were sent ({e})"}
        raise


def check_rejected(api, case, code, body):
    msg = body.get("message", "")
    if code < 400:
        return False, f"accepted ({code}); expected a refusal with {case['expect']!r}"
    if case["expect"] not in msg:
        return False, f"refused ({code}) without {case['expect']!r}: {msg[:400]}"
    if case["expect"] != "already exists":
        got, _ = api.get(case["kind"], case["object"]["metadata"]["name"])
        if got == 200:
            return False, "refused, yet the object exists"
    return True, f"refused ({code}): {msg[:300]}"


def ready_state(api, case):
    code, obj = api.get(case["kind"], case["object"]["metadata"]["name"])
    if code != 200:
        return None
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == "Ready":
            return c
    return None


def warning_events(api, case, reason):
    sel = urllib.parse.quote(
        f"involvedObject.kind={case['kind']},involvedObject.name={case['object']['metadata']['name']},"
        f"type=Warning,reason={reason}")
    code, body = api.call("GET", f"/api/v1/events?fieldSelector={sel}")
    return body.get("items", []) if code == 200 else []


def check_not_ready(api, case):
    reason = case["outcome"].split(":", 1)[1]
    cond = ready_state(api, case)
    if cond is None:
        return None, "no Ready condition yet"
    got = f"Ready={cond.get('status')} {cond.get('reason')}: {cond.get('message', '')[:300]}"
    if cond.get("status") != "False" or cond.get("reason") != reason:
        return False, f"expected Ready=False {reason}; got {got}"
    if case["expect"] not in cond.get("message", ""):
        return False, f"the message lacks {case['expect']!r}; got {got}"
    events = warning_events(api, case, reason)
    if not events:
        return None, f"{got}; no Warning Event {reason} yet"
    count = sum(e.get("count") or 1 for e in events)
    return True, f"{got}; {count} Warning Event(s) {reason}"


def main():
    sys.setrecursionlimit(20000)  # the deep-nesting cases
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--health", required=True, help="HOST:PORT of the operator's /healthz")
    p.add_argument("--pid", type=int, required=True, help="the operator's process id")
    p.add_argument("--valid", required=True, help="comma-separated valid budgets to watch")
    p.add_argument("--max-lag", type=float, required=True,
                   help="the most a valid budget's watermark may trail the clock, in seconds")
    p.add_argument("--batch", type=int, default=25)
    p.add_argument("--wait", type=float, default=30, help="seconds for a batch to be marked")
    p.add_argument("--only", default="", help="comma-separated case names (for debugging)")
    opts = p.parse_args()

    cases = load_cases(opts.cases)
    if opts.only:
        keep = set(opts.only.split(","))
        cases = [c for c in cases if c["name"] in keep]
    api = Api()
    dog = Watchdog(api, opts.valid.split(","), opts.health, opts.pid)
    dog.start()
    results = []
    started = time.time()
    for i in range(0, len(cases), opts.batch):
        batch = cases[i:i + opts.batch]
        pending = []
        for case in batch:
            code, body = create(api, case)
            if case["outcome"] == "rejected":
                ok, detail = check_rejected(api, case, code, body)
                results.append((ok, case, detail))
            elif code >= 300:
                results.append((False, case, f"refused ({code}), expected it stored: "
                                f"{body.get('message', '')[:300]}"))
            else:
                pending.append(case)
        deadline = time.time() + opts.wait
        while pending:
            still, last = [], {}
            for case in pending:
                ok, detail = check_not_ready(api, case)
                if ok is None:
                    still.append(case)
                    last[case["name"]] = detail
                else:
                    results.append((ok, case, detail))
            pending = still
            if pending and time.time() > deadline:
                for case in pending:
                    results.append((False, case, f"not marked within {opts.wait:.0f}s: "
                                    f"{last[case['name']]}"))
                break
            if pending:
                time.sleep(0.5)
        print(f"batch {i // opts.batch + 1}: {len(batch)} cases, "
              f"{sum(1 for r in results if r[0])}/{len(results)} passed so far "
              f"({time.time() - started:.0f}s)", flush=True)
    # A few more ticks with every bad object present.
    time.sleep(3)
    dog.stop.set()
    dog.join()

    with open(opts.results, "w", encoding="utf-8") as out:
        for ok, case, detail in results:
            label = f"{case['kind']} {case['name']} ({case['outcome']}, line {case['line']})"
            out.write(f"{'PASS' if ok else 'FAIL'}\t{label}\t{detail}\n".replace("\n", " ") + "\n")
        lag = ", ".join(f"{b} {v:.2f}s" for b, v in dog.max_lag.items())
        adv = ", ".join(f"{b} {v}" for b, v in dog.advances.items())
        lag_ok = all(v <= opts.max_lag for v in dog.max_lag.values()) and \
            all(v > 0 for v in dog.advances.values())
        out.write(f"{'PASS' if lag_ok else 'FAIL'}\twatchdog: the valid budgets' metering kept up "
                  f"(watermark lag at most {opts.max_lag:.1f}s)\tmax lag {lag}; watermark "
                  f"advanced {adv} times in {dog.polls} polls over {time.time() - started:.0f}s\n")
        hf = dog.health_failures
        out.write(f"{'PASS' if not hf and dog.polls > 0 else 'FAIL'}\twatchdog: /healthz answered "
                  f"200 and the valid budgets were readable at every poll\t{dog.polls} polls; "
                  f"failures: {hf[:5] if hf else 'none'}\n")
        out.write(f"{'PASS' if dog.dead is None else 'FAIL'}\twatchdog: the operator process "
                  f"stayed alive\t{'died at ' + dog.dead if dog.dead else 'alive'}\n")


if __name__ == "__main__":
    main()
