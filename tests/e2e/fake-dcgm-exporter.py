#!/usr/bin/env python3
"""A stand-in for NVIDIA's dcgm-exporter: serves /metrics in the Prometheus text format with one
DCGM_FI_DEV_GPU_UTIL series per entry of a JSON file, labelled as dcgm-exporter labels a GPU
that a Kubernetes pod uses (gpu, UUID, device, modelName, Hostname, container, namespace, pod).

The series file is a JSON list of {"namespace", "pod", "container", "gpu", "node", "util"}
objects (only util is required; namespace/pod/container may be omitted for an idle GPU). It is
re-read on every scrape, so a test changes the values by rewriting it (atomically: write a
temporary file, then rename it). A missing file serves no series; an unreadable one answers 500.

Usage: fake-dcgm-exporter.py --series FILE [--port 0] [--port-file FILE]
Listens on 127.0.0.1 only. With port 0 (the default) the kernel picks a free port; it is printed
to --port-file (written atomically) and to stdout once the server is listening.
"""

import argparse
import json
import os
import signal
import sys
import tempfile
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

METRIC = "DCGM_FI_DEV_GPU_UTIL"
MODEL = "NVIDIA A100-SXM4-80GB"


def escape(value):
    """A label value in the text format: backslash, double quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(series):
    lines = [
        f"# HELP {METRIC} GPU utilization (in %).",
        f"# TYPE {METRIC} gauge",
    ]
    for i, s in enumerate(series):
        if not isinstance(s, dict) or "util" not in s:
            raise ValueError(f"series[{i}]: expected an object with a util")
        gpu = str(s.get("gpu", i))
        node = s.get("node", "node-x")
        labels = [
            ("gpu", gpu),
            ("UUID", f"GPU-{uuid.uuid5(uuid.NAMESPACE_URL, f'fake-dcgm/{node}/{gpu}')}"),
            ("device", f"nvidia{gpu}"),
            ("modelName", MODEL),
            ("Hostname", node),
        ]
        # dcgm-exporter leaves the pod labels out for a GPU no pod holds.
        for key in ("container", "namespace", "pod"):
            if s.get(key):
                labels.append((key, s[key]))
        text = ",".join(f'{k}="{escape(v)}"' for k, v in labels)
        lines.append(f"{METRIC}{{{text}}} {float(s['util'])!r}")
    return "\n".join(lines) + "\n"


def read_series(path):
    try:
        with open(path, encoding="utf-8") as f:
            series = json.load(f)
    except FileNotFoundError:
        return []
    if not isinstance(series, list):
        raise ValueError("expected a JSON list")
    return series


def make_handler(series_path):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404, "only /metrics is served")
                return
            try:
                body = render(read_series(series_path)).encode()
            except (OSError, ValueError) as e:
                self.send_error(500, f"{series_path}: {e}")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            pass  # one line per scrape every second would drown the log

    return Handler


def write_atomically(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".port.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", required=True, help="JSON file of series, read per scrape")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--port-file", help="file to write the chosen port to")
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.series))
    port = server.server_address[1]
    if args.port_file:
        write_atomically(args.port_file, f"{port}\n")
    print(port, flush=True)
    # SIGTERM ends serve_forever cleanly (shutdown must run on another thread than the loop).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
