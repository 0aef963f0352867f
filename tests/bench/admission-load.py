#!/usr/bin/env python3
"""Admission load for the latency measurement (tests/bench/admission-latency.sh).

  admission-load.py direct    --webhook HOST:PORT --ca CA [--rate 1000] [--seconds 120]
  admission-load.py apiserver --server URL --ca CA --cert CRT --key KEY [--rate ...] [--seconds ...]
  admission-load.py churn     --server URL --ca CA --cert CRT --key KEY --namespace NS --node NODE
                              [--per-second 5] [--seconds 120]

direct:    AdmissionReviews POSTed straight to the webhook (/mutate for Jobs, /validate for Pods)
           over TLS verified with CA, keep-alive connections, as the API server sends them.
apiserver: dry-run creates (?dryRun=All) of the same Pods and Jobs through the API server, which
           calls the webhook; the API server's own histogram is read by the calling script.
Both send REQUESTS per minute open-loop (request i is due at i * 60 / rate s; a late one is sent
at once and its lateness is not hidden: latency runs from when it was due), in a fixed cycle:
  Pod in bench-0 labelled team=team-0 (the held podSelector budget): refused
  Pod in bench-1 (an open budget): admitted
  Job in bench-0 team=team-0: created suspended (patched)
  Job in bench-1: admitted
  Job in bench-1 already suspended: admitted unchanged
and print one JSON line: count, errors, p50/p99/max in ms, the results seen, the rate achieved.
quantiles: p50/p99 of the API server's apiserver_admission_webhook_admission_duration_seconds
           between two scrapes of its /metrics (BEFORE AFTER files), all of Bursar's webhooks,
           interpolated within buckets as Prometheus' histogram_quantile does.
churn:     creates a pod bound to NODE in NS every 1/per-second s and deletes the one created 10 s
           before (grace 0), so the operator's pod cache changes all the time; prints a JSON line.
Loopback only; TLS always verified.
"""
import argparse
import http.client
import json
import queue
import ssl
import sys
import threading
import time
import urllib.parse

CYCLE = [
    ("Pod", "bench-0", {"team": "team-0"}, False, "denied"),
    ("Pod", "bench-1", {"team": "team-1"}, False, "allowed"),
    ("Job", "bench-0", {"team": "team-0"}, False, "patched"),
    ("Job", "bench-1", {"team": "team-1"}, False, "allowed"),
    ("Job", "bench-1", {"team": "team-1"}, True, "allowed"),
]
TOLERATION = {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}


def pod_spec(gpus):
    return {
        "tolerations": [TOLERATION],
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 1,
        "containers": [{
            "name": "train",
            "image": "registry.invalid/bursar/fake-trainer:1",
            "resources": {"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": str(gpus)},
                          "limits": {"nvidia.com/gpu": str(gpus)}},
        }],
    }


def workload(i, kind, namespace, labels, suspended):
    name = f"adm-{i}"
    meta = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec(1)}
    spec = {"parallelism": 2, "completions": 2, "template": {
        "metadata": {"labels": dict(labels)}, "spec": pod_spec(1)}}
    if suspended:
        spec["suspend"] = True
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec}


def review(i, kind, namespace, obj):
    group, resource = ("batch", "jobs") if kind == "Job" else ("", "pods")
    return {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": f"00000000-0000-4000-9000-{i:012d}",
            "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": resource},
            "name": obj["metadata"]["name"], "namespace": namespace, "operation": "CREATE",
            "userInfo": {"username": "admission-bench"}, "object": obj, "dryRun": False,
        },
    }


def tls_context(args):
    ctx = ssl.create_default_context(cafile=args.ca)  # verified: hostname and chain
    if getattr(args, "cert", None):
        ctx.load_cert_chain(args.cert, args.key)
    return ctx


def split_url(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port


class Sender:
    """One keep-alive HTTPS connection per worker thread; reconnects after an error."""

    def __init__(self, host, port, ctx):
        self.host, self.port, self.ctx, self.conn = host, port, ctx, None

    def post(self, path, body, method="POST"):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                                        timeout=30)
            try:
                self.conn.request(method, path, body=body,
                                  headers={"Content-Type": "application/json"})
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


def result_of(mode, status, body):
    if mode == "apiserver":
        if status == 403:
            return "denied"
        if status != 201:
            return f"http-{status}"
        obj = json.loads(body)
        patched = obj.get("kind") == "Job" and obj["spec"].get("suspend") and \
            "bursar.dev/held-by" in obj["metadata"].get("annotations", {})
        return "patched" if patched else "allowed"
    if status != 200:
        return f"http-{status}"
    resp = json.loads(body)["response"]
    if not resp["allowed"]:
        return "denied"
    return "patched" if resp.get("patch") else "allowed"


def request_for(mode, i):
    kind, namespace, labels, suspended, expected = CYCLE[i % len(CYCLE)]
    obj = workload(i, kind, namespace, labels, suspended)
    if mode == "direct":
        path = "/mutate" if kind == "Job" else "/validate"
        return path, json.dumps(review(i, kind, namespace, obj)), expected
    base = f"/apis/batch/v1/namespaces/{namespace}/jobs" if kind == "Job" else \
        f"/api/v1/namespaces/{namespace}/pods"
    return base + "?dryRun=All", json.dumps(obj), expected


def percentile(sorted_ms, p):
    if not sorted_ms:
        return None
    index = max(0, min(len(sorted_ms) - 1, int(len(sorted_ms) * p / 100 + 0.999) - 1))
    return round(sorted_ms[index], 2)


def run_load(args):
    if args.mode == "direct":
        host, port = args.webhook.rsplit(":", 1)
        port = int(port)
    else:
        host, port = split_url(args.server)
    ctx = tls_context(args)
    total = int(args.rate * args.seconds / 60)
    interval = 60.0 / args.rate
    due_queue = queue.Queue()
    lock = threading.Lock()
    latencies, results, mismatched, errors = [], {}, [], []
    start = time.monotonic() + 0.5

    def worker():
        sender = Sender(host, port, ctx)
        while True:
            item = due_queue.get()
            if item is None:
                return
            i, due = item
            path, body, expected = request_for(args.mode, i)
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                status, data = sender.post(path, body)
                got = result_of(args.mode, status, data)
            except Exception as e:  # noqa: BLE001 — counted and reported, never hidden
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
                continue
            elapsed_ms = (time.monotonic() - due) * 1000
            with lock:
                latencies.append(elapsed_ms)
                results[got] = results.get(got, 0) + 1
                if got != expected and len(mismatched) < 5:
                    mismatched.append({"i": i, "expected": expected, "got": got,
                                       "body": data[:300].decode("utf-8", "replace")})

    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for i in range(total):
        due_queue.put((i, start + i * interval))
    for _ in threads:
        due_queue.put(None)
    for t in threads:
        t.join()
    took = time.monotonic() - start
    latencies.sort()
    print(json.dumps({
        "mode": args.mode, "sent": total, "answered": len(latencies), "errors": len(errors),
        "first_errors": errors[:3], "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99), "max_ms": round(latencies[-1], 2) if latencies else None,
        "results": results, "unexpected": mismatched,
        "rate_per_min": round(len(latencies) * 60 / took, 1), "seconds": round(took, 1),
    }))
    return 0 if latencies and not errors else 1


def run_churn(args):
    host, port = split_url(args.server)
    sender = Sender(host, port, tls_context(args))
    base = f"/api/v1/namespaces/{args.namespace}/pods"
    live, created, deleted, errors = [], 0, 0, []
    interval = 1.0 / args.per_second
    keep = max(1, int(10 * args.per_second))
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < args.seconds:
        due = start + i * interval
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        name = f"churn-{i}"
        spec = pod_spec(1)
        spec["nodeName"] = args.node
        obj = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "labels": {"team": f"team-{i % 7}"}}, "spec": spec}
        status, body = sender.post(base, json.dumps(obj))
        if status == 201:
            created += 1
            live.append(name)
        elif len(errors) < 3:
            errors.append(f"create {status}: {body[:200]!r}")
        if len(live) > keep:
            victim = live.pop(0)
            status, body = sender.post(f"{base}/{victim}?gracePeriodSeconds=0", "", "DELETE")
            if status == 200:
                deleted += 1
            elif len(errors) < 3:
                errors.append(f"delete {status}: {body[:200]!r}")
        i += 1
    for victim in live:
        sender.post(f"{base}/{victim}?gracePeriodSeconds=0", "", "DELETE")
    took = time.monotonic() - start
    print(json.dumps({"mode": "churn", "created": created, "deleted": deleted,
                      "per_second": round((created + deleted) / took, 2), "errors": errors}))
    return 0 if created > 0 and not errors else 1


def buckets_of(path, metric):
    """Cumulative bucket counts by upper bound, summed over every series of `metric`."""
    out = {}
    with open(path) as f:
        for line in f:
            if not line.startswith(metric + "_bucket{") or "admission.bursar.dev" not in line:
                continue
            labels, value = line.rsplit(" ", 1)
            le = labels.split('le="', 1)[1].split('"', 1)[0]
            bound = float("inf") if le == "+Inf" else float(le)
            out[bound] = out.get(bound, 0) + float(value)
    return out


def histogram_quantile(q, cumulative):
    bounds = sorted(cumulative)
    total = cumulative[bounds[-1]] if bounds else 0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound in bounds:
        if cumulative[bound] >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(cumulative[bound] - below, 1e-9)
        lower, below = bound, cumulative[bound]
    return lower


def run_quantiles(args):
    metric = "apiserver_admission_webhook_admission_duration_seconds"
    before, after = buckets_of(args.files[0], metric), buckets_of(args.files[1], metric)
    diff = {b: after[b] - before.get(b, 0) for b in after}
    def ms(q):
        v = histogram_quantile(q, diff)
        return None if v is None else round(v * 1000, 1)
    count = diff.get(float("inf"), 0)
    print(json.dumps({"mode": "apiserver-histogram", "count": int(count), "p50_ms": ms(0.5),
                      "p99_ms": ms(0.99), "buckets_s": sorted(b for b in diff if b != float("inf"))}))
    return 0 if count > 0 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["direct", "apiserver", "churn", "quantiles"])
    parser.add_argument("files", nargs="*", help="quantiles: BEFORE AFTER scrapes")
    parser.add_argument("--webhook", help="HOST:PORT of the webhook (direct)")
    parser.add_argument("--server", help="https URL of the API server (apiserver, churn)")
    parser.add_argument("--ca", help="CA that signed the server's certificate")
    parser.add_argument("--cert", help="client certificate for the API server")
    parser.add_argument("--key", help="its key")
    parser.add_argument("--rate", type=float, default=1000, help="requests per minute")
    parser.add_argument("--seconds", type=float, default=120, help="how long to send")
    parser.add_argument("--workers", type=int, default=8, help="requests in flight at most")
    parser.add_argument("--namespace", default="churn", help="churn: the pods' namespace")
    parser.add_argument("--node", default="gpu-0", help="churn: the node the pods are bound to")
    parser.add_argument("--per-second", type=float, default=5, help="churn: pods created a second")
    args = parser.parse_args()
    if args.mode == "quantiles":
        if len(args.files) != 2:
            parser.error("quantiles needs two files: BEFORE AFTER")
        return run_quantiles(args)
    if not args.ca:
        parser.error(f"{args.mode} needs --ca")
    if args.mode == "direct" and not args.webhook:
        parser.error("direct needs --webhook HOST:PORT")
    if args.mode != "direct" and not (args.server and args.cert and args.key):
        parser.error(f"{args.mode} needs --server, --cert and --key")
    if args.rate <= 0 or args.seconds <= 0 or args.workers <= 0 or args.per_second <= 0:
        parser.error("--rate, --seconds, --workers and --per-second must be positive")
    return run_churn(args) if args.mode == "churn" else run_load(args)


if __name__ == "__main__":
    sys.exit(main())
