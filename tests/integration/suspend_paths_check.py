#!/usr/bin/env python3
"""The suspend paths of controllers/reconcilers/workload_kinds.cc against each kind's real schema,
fetched at test time from the Go module cache (nothing is committed): batch/v1 Job from
k8s.io/kubernetes' OpenAPI spec, PyTorchJob and TFJob from github.com/kubeflow/training-operator,
RayJob from github.com/ray-project/kuberay/ray-operator, JobSet from sigs.k8s.io/jobset. A module
the proxy does not serve is skipped with a message (not a failure); a path missing from a schema
that was found, a boolean that is not a boolean, or a table row without a source, fails.

Usage: suspend_paths_check.py   (needs go and PyYAML; downloads into GOMODCACHE when missing)
"""
import json
import os
import pathlib
import re
import subprocess
import sys

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
TABLE = REPO / "controllers/reconcilers/workload_kinds.cc"

# group -> (module@version, file in the module, "crd" or "openapi")
SOURCES = {
    "batch": ("k8s.io/kubernetes@v1.35.4", "api/openapi-spec/v3/apis__batch__v1_openapi.json", "openapi"),
    "kubeflow.org": ("github.com/kubeflow/training-operator@v1.8.1",
                     "manifests/base/crds/kubeflow.org_{plural}.yaml", "crd"),
    "ray.io": ("github.com/ray-project/kuberay/ray-operator@v1.5.0",
               "config/crd/bases/ray.io_{plural}.yaml", "crd"),
    "jobset.x-k8s.io": ("sigs.k8s.io/jobset@v0.8.0",
                        "config/components/crd/bases/jobset.x-k8s.io_{plural}.yaml", "crd"),
}


def table():
    rows = re.findall(r'\{"([^"]*)", "([^"]*)", "([^"]*)", "([^"]*)", "([^"]*)"\}', TABLE.read_text())
    if len(rows) < 5:
        sys.exit(f"suspend_paths_check: found {len(rows)} rows in {TABLE}, expected 5")
    return rows


def module_dir(module):
    env = dict(os.environ, GOWORK="off", GOFLAGS="", GOTOOLCHAIN="local")
    done = subprocess.run(["go", "mod", "download", "-json", module], capture_output=True, text=True,
                          cwd="/tmp", env=env)
    try:
        info = json.loads(done.stdout)
    except json.JSONDecodeError:
        return None, (done.stderr or done.stdout).strip()
    if "Dir" not in info:
        return None, info.get("Error", "no Dir")
    return pathlib.Path(info["Dir"]), ""


def crd_schema(path, version):
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader: these CRDs are large
    for doc in yaml.load_all(path.read_text(), Loader=loader):
        if doc and doc.get("kind") == "CustomResourceDefinition":
            for v in doc["spec"]["versions"]:
                if v["name"] == version:
                    return v["schema"]["openAPIV3Schema"], None
    return None, None


def openapi_job_schema(path):
    spec = json.loads(path.read_text())
    schemas = spec["components"]["schemas"]
    return schemas["io.k8s.api.batch.v1.Job"], schemas


def walk(schema, dotted, refs):
    node = schema
    for key in dotted.split("."):
        while "$ref" in node or "allOf" in node:
            ref = node["$ref"] if "$ref" in node else node["allOf"][0]["$ref"]
            node = refs[ref.rsplit("/", 1)[1]]
        node = node.get("properties", {}).get(key)
        if node is None:
            return None
    return node


def main():
    failed = skipped = passed = 0
    for group, version, kind, plural, path in table():
        if group not in SOURCES:
            print(f"FAIL {kind}: no schema source for group {group}")
            failed += 1
            continue
        module, file, form = SOURCES[group]
        root, why = module_dir(module)
        if root is None:
            print(f"SKIP {kind} ({group}/{version}): {module} is not served by the module proxy: {why[:160]}")
            skipped += 1
            continue
        source = root / file.format(plural=plural)
        if not source.is_file():
            print(f"FAIL {kind}: {source} is not in {module}")
            failed += 1
            continue
        if form == "openapi":
            schema, refs = openapi_job_schema(source)
        else:
            schema, refs = crd_schema(source, version)
        if schema is None:
            print(f"FAIL {kind}: {source} has no version {version}")
            failed += 1
            continue
        node = walk(schema, path, refs or {})
        if node is None or node.get("type") != "boolean":
            print(f"FAIL {kind} ({group}/{version}): {path} is not a boolean in {source}: {node}")
            failed += 1
            continue
        print(f"ok   {kind} ({group}/{version}): {path} is a boolean in {module}")
        passed += 1
    print(f"suspend_paths_check: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
