#!/usr/bin/env python3
"""Static checks of Bursar's CustomResourceDefinitions and example manifests.

Run from anywhere:  python3 tests/crds/check_crds.py [-v] [--write-docs]

What it checks (no cluster needed; Python 3 standard library plus PyYAML):

CRDs (crds/*.yaml)
  * apiextensions.k8s.io/v1, group bursar.dev, one version v1alpha1 (served, storage), cluster
    scope, shortNames, categories [bursar], the status subresource, printer columns whose
    jsonPath exists in the schema;
  * the schema is structural and strict: every node has a type and a non-empty description
    (except metadata, where the apiserver forbids one), no x-kubernetes-preserve-unknown-fields,
    only known schema keywords, required names exist, patterns compile, enum values and
    defaults are valid against their own schema and CEL twins (defaults as written, without
    nested defaulting, as the apiserver checks them), list-map keys are scalar and required or
    defaulted, list-type set items are scalar, metadata only constrains name/generateName;
  * the field paths are exactly the API contract below (the C++ structs in controllers/api are
    written against these names: renaming or adding a field means updating both);
  * every x-kubernetes-validations rule has a message, uses only standard Kubernetes CEL
    functions, and has a Python twin in CEL_TWINS below (so a changed rule fails here until
    its twin is updated too).

Examples (examples/{budgets,pools,pricebooks}/*.yaml)
  * every document is a Bursar kind, has a valid metadata.name, and after defaulting uses only
    fields of its schema and satisfies types, enums, required, patterns, bounds, formats,
    list uniqueness and (through the twins) the CEL rules.

Reference (docs/reference/crds.md)
  * the field and rule tables between the GENERATED markers match the CRDs; regenerate them
    with --write-docs after changing a CRD.

Negative cases (tests/crds/invalid/*.yaml): each file starts with a line
  "# expect: <text>" and must be rejected with an error containing <text>.

CEL itself is not evaluated here; the twins mirror the rules and a test against a real
kube-apiserver checks the rules themselves. Exit status: 0 when everything passes, 1 on any
failure (each failure names the file and the field path), 77 when PyYAML is missing.
"""

import copy
import glob
import os
import re
import sys

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the machine
    # A pyenv or venv interpreter may lack PyYAML while Debian's python3-yaml is installed.
    system_python = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(system_python) and os.path.exists(
        system_python
    ) and not os.environ.get("CHECK_CRDS_REEXEC"):
        os.environ["CHECK_CRDS_REEXEC"] = "1"
        os.execv(system_python, [system_python] + sys.argv)
    print("check_crds: SKIPPED: PyYAML is not installed (Debian: python3-yaml)")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GROUP = "bursar.dev"
VERSION = "v1alpha1"
EXAMPLE_DIRS = ["examples/budgets", "examples/pools", "examples/pricebooks"]
INVALID_DIR = "tests/crds/invalid"

# --------------------------------------------------------------------------------------------
# The API contract: every field path of each kind ("[]" marks list items, "{}" map values).
# --------------------------------------------------------------------------------------------

_SELECTOR = [
    "", ".matchLabels", ".matchLabels.{}", ".matchExpressions", ".matchExpressions[]",
    ".matchExpressions[].key", ".matchExpressions[].operator", ".matchExpressions[].values",
    ".matchExpressions[].values[]",
]
_CONDITIONS = [
    "status.conditions", "status.conditions[]", "status.conditions[].type",
    "status.conditions[].status", "status.conditions[].reason", "status.conditions[].message",
    "status.conditions[].lastTransitionTime", "status.conditions[].observedGeneration",
]
_COMMON = ["apiVersion", "kind", "metadata", "metadata.name", "spec", "status",
           "status.observedGeneration"] + _CONDITIONS

CONTRACT = {
    "ComputeBudget": _COMMON + [
        "spec.scope", "spec.scope.namespaces", "spec.scope.namespaces[]",
    ] + ["spec.scope.namespaceSelector" + s for s in _SELECTOR]
      + ["spec.scope.podSelector" + s for s in _SELECTOR] + [
        "spec.limit", "spec.limit.amount", "spec.limit.currency", "spec.limit.gpuHours",
        "spec.period", "spec.period.type", "spec.period.timeZone", "spec.period.startDay",
        "spec.period.duration", "spec.period.anchor",
        "spec.pacing", "spec.pacing.mode", "spec.pacing.burstPercent",
        "spec.thresholds", "spec.thresholds[]", "spec.thresholds[].percent",
        "spec.thresholds[].action",
        "spec.enforcement",
        "spec.quota", "spec.quota.mode", "spec.quota.resources", "spec.quota.resources[]",
        "spec.quota.clusterQueue",
        "spec.nodePools", "spec.nodePools[]",
        "spec.retraining", "spec.retraining.reservePercent", "spec.retraining.driftThreshold",
        "spec.retraining.modelLabel", "spec.retraining.purposeLabel",
        "spec.retraining.cooldown", "spec.retraining.maxPerPeriod",
        "spec.retraining.releaseUnusedFromPercent",
        "spec.retraining.driftQuery",
        "spec.priceBookRef",
        "status.period", "status.period.start", "status.period.end",
        "status.spent", "status.gpuHours", "status.burnRate", "status.forecast",
        "status.remaining", "status.exhaustsAt", "status.allowedGPUs", "status.phase",
        "status.admission", "status.admission.holdNewWork", "status.admission.allowed",
        "status.admission.allowed.{}", "status.admission.gpuHourPrice", "status.admission.moneyLeft",
        "status.admission.reserveGPUs",
        "status.ledger", "status.ledger.periodStart", "status.ledger.periodEnd",
        "status.ledger.accrued", "status.ledger.gpuSeconds", "status.ledger.watermark",
        "status.ledger.startHorizon", "status.ledger.endHorizon", "status.ledger.pods", "status.ledger.pods[]", "status.ledger.pods[].uid",
        "status.ledger.pods[].accountedUntil",
        "status.reserveLedger", "status.reserveLedger.periodStart", "status.reserveLedger.periodEnd",
        "status.reserveLedger.accrued", "status.reserveLedger.gpuSeconds",
        "status.reserveLedger.watermark", "status.reserveLedger.startHorizon", "status.reserveLedger.endHorizon",
        "status.reserveLedger.pods",
        "status.reserveLedger.pods[]", "status.reserveLedger.pods[].uid",
        "status.reserveLedger.pods[].accountedUntil",
        "status.recentActions", "status.recentActions[]", "status.recentActions[].time",
        "status.recentActions[].action", "status.recentActions[].reason",
        "status.recentActions[].message", "status.recentActions[].target",
        "status.recentActions[].dryRun",
        "status.retraining", "status.retraining.period", "status.retraining.period.start",
        "status.retraining.period.end", "status.retraining.unlocksThisPeriod",
        "status.retraining.models", "status.retraining.models[]",
        "status.retraining.models[].model", "status.retraining.models[].lastUnlock",
        "status.retraining.models[].open",
        "status.drainRequests", "status.drainRequests[]", "status.drainRequests[].namespace",
        "status.drainRequests[].name", "status.drainRequests[].since",
        "status.jobs", "status.jobs[]", "status.jobs[].namespace", "status.jobs[].name",
        "status.jobs[].uid", "status.jobs[].accrued", "status.jobs[].gpuSeconds",
        "status.jobs[].spent", "status.jobs[].rate", "status.jobs[].gpus", "status.jobs[].cap",
        "status.jobLengths",
    ],
    "GPUNodePool": _COMMON + [
        "spec.provider", "spec.provider.type",
        "spec.provider.clusterAPI", "spec.provider.clusterAPI.namespace",
        "spec.provider.clusterAPI.name",
        "spec.provider.karpenter", "spec.provider.karpenter.nodePool",
        "spec.provider.externalGRPC", "spec.provider.externalGRPC.address",
        "spec.provider.externalGRPC.nodeGroup", "spec.provider.externalGRPC.tlsSecretRef",
        "spec.provider.kwok", "spec.provider.kwok.nodeNamePrefix",
        "spec.nodeSelector", "spec.nodeSelector.{}", "spec.gpuType", "spec.gpusPerNode",
        "spec.capacityType", "spec.pricePerNodeHour", "spec.priceBookRef", "spec.minNodes",
        "spec.maxNodes", "spec.maxScaleStep", "spec.scaleDownDelay",
        "status.currentNodes", "status.desiredNodes", "status.readyNodes", "status.idleNodes",
        "status.lastScaleTime", "status.lastScaleReason", "status.scaleDownPendingSince",
        "status.growingFor",
    ],
    "PriceBook": _COMMON + [
        "spec.currency", "spec.defaults", "spec.defaults.cpuCoreHour",
        "spec.defaults.memoryGiBHour", "spec.defaults.gpuHour",
        "spec.gpus", "spec.gpus[]", "spec.gpus[].model", "spec.gpus[].capacityType",
        "spec.gpus[].pricePerHour",
        "spec.instanceTypes", "spec.instanceTypes[]", "spec.instanceTypes[].name",
        "spec.instanceTypes[].capacityType", "spec.instanceTypes[].pricePerHour",
        "spec.nodeLabels", "spec.nodeLabels.instanceType", "spec.nodeLabels.gpuModel",
        "spec.nodeLabels.capacityType",
        "spec.spotValues", "spec.spotValues[]",
    ],
}

EXPECTED_NAMES = {
    "ComputeBudget": ("computebudgets", {"cb", "budget"}),
    "GPUNodePool": ("gpunodepools", {"gnp", "gpupool"}),
    "PriceBook": ("pricebooks", {"pb"}),
}

# --------------------------------------------------------------------------------------------
# Python twins of the CEL rules, keyed by the exact rule text. `s` is the (defaulted) object
# the rule is attached to. Keep each twin as literal a translation of its rule as possible.
# --------------------------------------------------------------------------------------------

_GO_DURATION_UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
                        "h": 3600 * 10**9}


def go_duration_ns(text):
    """Go's time.ParseDuration for the subset our pattern allows; returns nanoseconds."""
    total = 0.0
    for number, unit in re.findall(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)", text):
        total += float(number) * _GO_DURATION_UNIT_NS[unit]
    return total


def _strictly_ascending(values):
    return all(values[i] < values[i + 1] for i in range(len(values) - 1))


CEL_TWINS = {
    # ComputeBudget
    "(has(self.namespaces) && size(self.namespaces) > 0) || has(self.namespaceSelector)":
        lambda s: ("namespaces" in s and len(s["namespaces"]) > 0) or "namespaceSelector" in s,
    "self.operator == 'In' || self.operator == 'NotIn' ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)":
        lambda s: (("values" in s and len(s["values"]) > 0)
                   if s["operator"] in ("In", "NotIn")
                   else ("values" not in s or len(s["values"]) == 0)),
    "has(self.amount) || has(self.gpuHours)":
        lambda s: "amount" in s or "gpuHours" in s,
    "self.type != 'Custom' || has(self.duration)":
        lambda s: s["type"] != "Custom" or "duration" in s,
    "!has(self.duration) || self.type == 'Custom'":
        lambda s: "duration" not in s or s["type"] == "Custom",
    "!has(self.anchor) || self.type == 'Custom'":
        lambda s: "anchor" not in s or s["type"] == "Custom",
    "self.type != 'Weekly' || !has(self.startDay) || self.startDay <= 7":
        lambda s: s["type"] != "Weekly" or "startDay" not in s or s["startDay"] <= 7,
    "!has(self.duration) || duration(self.duration) >= duration('30s')":
        lambda s: "duration" not in s or go_duration_ns(s["duration"]) >= 30 * 10**9,
    "self.map(t, t.percent).isSorted() && self.all(t, self.exists_one(u, u.percent == t.percent))":
        lambda s: _strictly_ascending([t["percent"] for t in s]),
    "!has(self.mode) || self.mode != 'KueueClusterQueue' || has(self.clusterQueue)":
        lambda s: "mode" not in s or s["mode"] != "KueueClusterQueue" or "clusterQueue" in s,
    "(has(self.mode) && self.mode == 'None') || !has(self.resources) || size(self.resources) > 0":
        lambda s: ("mode" in s and s["mode"] == "None") or "resources" not in s
        or len(s["resources"]) > 0,
    "!has(self.mode) || self.mode != 'Webhook' || !has(self.resources) || self.resources.all(r, r in ['nvidia.com/gpu', 'cpu', 'memory'])":
        lambda s: "mode" not in s or s["mode"] != "Webhook" or "resources" not in s
        or all(r in ("nvidia.com/gpu", "cpu", "memory") for r in s["resources"]),
    "!self.matches('^0*[1-9][0-9]{12}')":
        lambda s: not re.match(r"^0*[1-9][0-9]{12}", s),
    "self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ns|us|ms|s|m|h)){1,4}$') && duration(self) <= duration('8784h')":
        lambda s: bool(re.match(r"^([0-9]{1,5}([.][0-9]{1,9})?(ns|us|ms|s|m|h)){1,4}$", s))
        and go_duration_ns(s) <= 8784 * 3600 * 10**9,
    # GPUNodePool and PriceBook
    "!self.matches('^0*[1-9][0-9]{6}')":
        lambda s: not re.match(r"^0*[1-9][0-9]{6}", s),
    "!has(self.minNodes) || self.minNodes <= self.maxNodes":
        lambda s: "minNodes" not in s or s["minNodes"] <= s["maxNodes"],
    "self.type != 'ClusterAPI' || has(self.clusterAPI)":
        lambda s: s["type"] != "ClusterAPI" or "clusterAPI" in s,
    "self.type != 'Karpenter' || has(self.karpenter)":
        lambda s: s["type"] != "Karpenter" or "karpenter" in s,
    "self.type != 'ExternalGRPC' || has(self.externalGRPC)":
        lambda s: s["type"] != "ExternalGRPC" or "externalGRPC" in s,
    "(!has(self.clusterAPI) || self.type == 'ClusterAPI') && (!has(self.karpenter) || self.type == 'Karpenter') && (!has(self.externalGRPC) || self.type == 'ExternalGRPC') && (!has(self.kwok) || self.type == 'Kwok')":
        lambda s: all(block not in s or s["type"] == kind for block, kind in (
            ("clusterAPI", "ClusterAPI"), ("karpenter", "Karpenter"),
            ("externalGRPC", "ExternalGRPC"), ("kwok", "Kwok"))),
}

# Functions and macros from standard CEL and the Kubernetes CEL libraries that rules may use.
CEL_ALLOWED_CALLS = {
    "has", "size", "all", "exists", "exists_one", "map", "filter", "isSorted", "matches",
    "duration", "timestamp", "startsWith", "endsWith", "contains", "indexOf", "lastIndexOf",
    "sum", "min", "max", "int", "uint", "double", "string",
}

SCHEMA_KEYWORDS = {
    "type", "description", "properties", "required", "items", "additionalProperties", "enum",
    "default", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "multipleOf", "minLength", "maxLength", "minItems", "maxItems", "minProperties",
    "maxProperties", "nullable", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type", "x-kubernetes-validations",
}
SCALAR_TYPES = {"string", "integer", "number", "boolean"}

RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# --------------------------------------------------------------------------------------------
# YAML loading: like sigs.k8s.io/yaml, timestamps stay strings and duplicate keys are errors.
# --------------------------------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping_no_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_no_duplicates)
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class LoadError(Exception):
    pass


def load_documents(path):
    """All non-empty YAML documents of a file; LoadError names the file and the YAML problem."""
    try:
        with open(path, encoding="utf-8") as f:
            return [d for d in yaml.load_all(f, Loader=_Loader) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        raise LoadError(" ".join(str(e).split())) from e


# --------------------------------------------------------------------------------------------
# Error collection
# --------------------------------------------------------------------------------------------

class Errors:
    def __init__(self):
        self.items = []

    def add(self, where, path, message):
        self.items.append((where, path, message))

    def __len__(self):
        return len(self.items)


def rel(path):
    return os.path.relpath(path, ROOT)


# --------------------------------------------------------------------------------------------
# Defaulting and validation of values against a structural schema
# --------------------------------------------------------------------------------------------

def apply_defaults(value, schema):
    """Fills in defaults the way the apiserver does: missing properties with a default get a
    deep copy of it, then defaulting recurses into every property and list item."""
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties", {})
        for name, sub in props.items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
        for name, sub_value in value.items():
            if name in props:
                apply_defaults(sub_value, props[name])
            elif isinstance(schema.get("additionalProperties"), dict):
                apply_defaults(sub_value, schema["additionalProperties"])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            apply_defaults(item, schema["items"])
    return value


def _type_ok(value, type_name):
    if type_name == "object":
        return isinstance(value, dict)
    if type_name == "array":
        return isinstance(value, list)
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return False


def validate(value, schema, path, where, errs):
    """Validates a defaulted value; reports (where, path, message) for every violation."""
    type_name = schema.get("type")
    if type_name and not _type_ok(value, type_name):
        errs.add(where, path, f"must be of type {type_name}, got {type(value).__name__} {value!r}")
        return
    if "enum" in schema and value not in schema["enum"]:
        errs.add(where, path, f"unsupported value {value!r}: must be one of {schema['enum']}")
    if type_name == "string":
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.add(where, path, f"{value!r} does not match pattern {schema['pattern']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.add(where, path, f"longer than maxLength {schema['maxLength']}")
        if "minLength" in schema and len(value) < schema["minLength"]:
            errs.add(where, path, f"shorter than minLength {schema['minLength']}")
        if schema.get("format") == "date-time" and not RFC3339.match(value):
            errs.add(where, path, f"{value!r} is not an RFC 3339 date-time")
    if type_name in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errs.add(where, path, f"{value} is less than minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.add(where, path, f"{value} is greater than maximum {schema['maximum']}")
    if type_name == "object":
        props = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        for name in schema.get("required", []):
            if name not in value:
                errs.add(where, f"{path}.{name}", "required field is missing")
        for name, sub_value in value.items():
            sub_path = f"{path}.{name}"
            if name in props:
                validate(sub_value, props[name], sub_path, where, errs)
            elif isinstance(additional, dict):
                validate(sub_value, additional, sub_path, where, errs)
            elif path != "" or name not in ("apiVersion", "kind", "metadata"):
                errs.add(where, sub_path, "unknown field (not in the schema)")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            errs.add(where, path, f"more than maxProperties {schema['maxProperties']}")
    if type_name == "array":
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.add(where, path, f"more than maxItems {schema['maxItems']}")
        if "minItems" in schema and len(value) < schema["minItems"]:
            errs.add(where, path, f"fewer than minItems {schema['minItems']}")
        for i, item in enumerate(value):
            validate(item, schema.get("items", {}), f"{path}[{i}]", where, errs)
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set":
            seen = set()
            for i, item in enumerate(value):
                if item in seen:
                    errs.add(where, f"{path}[{i}]", f"duplicate value {item!r} in a list-type set")
                seen.add(item)
        elif list_type == "map":
            keys = schema.get("x-kubernetes-list-map-keys", [])
            seen = set()
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    continue
                key = tuple(item.get(k) for k in keys)
                if key in seen:
                    errs.add(where, f"{path}[{i}]", f"duplicate entry for keys {keys} = {key}")
                seen.add(key)
    for rule in schema.get("x-kubernetes-validations", []):
        twin = CEL_TWINS.get(rule.get("rule"))
        if twin is None:
            errs.add(where, path, f"no Python twin for CEL rule {rule.get('rule')!r}")
            continue
        try:
            ok = twin(value)
        except (KeyError, TypeError) as e:  # a field the rule needs is missing: CEL errors too
            errs.add(where, path, f"CEL rule {rule['rule']!r} cannot be evaluated: {e!r}")
            continue
        if not ok:
            errs.add(where, path, rule.get("message", rule["rule"]))


# --------------------------------------------------------------------------------------------
# CRD checks
# --------------------------------------------------------------------------------------------

def cel_calls(rule):
    """Names used as functions or methods in a CEL expression (string literals removed)."""
    stripped = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", rule)
    return set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", stripped))


def check_schema_node(schema, path, where, errs, field_paths, is_root=False):
    display = path or "<root>"
    unknown = set(schema) - SCHEMA_KEYWORDS
    if unknown:
        errs.add(where, display, f"unexpected schema keywords {sorted(unknown)}")
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        errs.add(where, display, "x-kubernetes-preserve-unknown-fields is not allowed (strict schemas)")
    if path == "metadata":
        # The apiserver forbids anything on metadata but `type: object` and constraints on
        # name/generateName (a description there is rejected): ObjectMeta documents itself.
        extra = set(schema) - {"type", "properties"}
        if extra:
            errs.add(where, display, f"metadata may only have type and properties, not {sorted(extra)}")
    elif not str(schema.get("description", "")).strip():
        errs.add(where, display, "missing or empty description")
    type_name = schema.get("type")
    if type_name not in SCALAR_TYPES | {"object", "array"}:
        errs.add(where, display, f"missing or unknown type {type_name!r} (schemas must be structural)")
        return
    if path:
        field_paths.add(path)
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except re.error as e:
            errs.add(where, display, f"pattern does not compile: {e}")
    for i, rule in enumerate(schema.get("x-kubernetes-validations", [])):
        text = str(rule.get("rule", "")).strip()
        if not text:
            errs.add(where, f"{display} rule {i}", "empty CEL rule")
            continue
        if not str(rule.get("message", "")).strip():
            errs.add(where, f"{display} rule {i}", f"CEL rule {text!r} has no message")
        bad = cel_calls(text) - CEL_ALLOWED_CALLS
        if bad:
            errs.add(where, f"{display} rule {i}", f"CEL rule uses non-standard functions {sorted(bad)}")
        if text not in CEL_TWINS:
            errs.add(where, f"{display} rule {i}",
                     f"CEL rule {text!r} has no Python twin in tests/crds/check_crds.py")
    if type_name == "object":
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in props:
                errs.add(where, display, f"required field {name!r} is not a property")
        if is_root and "metadata" in props:
            extra = set(props["metadata"].get("properties", {})) - {"name", "generateName"}
            if extra:
                errs.add(where, "metadata", f"metadata may only constrain name and generateName, not {sorted(extra)}")
        for name, sub in props.items():
            check_schema_node(sub, f"{path}.{name}" if path else name, where, errs, field_paths)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            check_schema_node(additional, f"{path}.{{}}", where, errs, field_paths)
        elif additional is not None and additional is not False:
            errs.add(where, display, "additionalProperties must be a schema")
    if type_name == "array":
        items = schema.get("items")
        if not isinstance(items, dict):
            errs.add(where, display, "array without an items schema")
            return
        check_schema_node(items, f"{path}[]", where, errs, field_paths)
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set" and items.get("type") not in SCALAR_TYPES:
            errs.add(where, display, "x-kubernetes-list-type set needs scalar items")
        if list_type == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            if not keys:
                errs.add(where, display, "x-kubernetes-list-type map needs x-kubernetes-list-map-keys")
            item_props = items.get("properties", {})
            for key in keys:
                key_schema = item_props.get(key)
                if key_schema is None:
                    errs.add(where, display, f"list-map key {key!r} is not an item property")
                elif key_schema.get("type") not in SCALAR_TYPES:
                    errs.add(where, display, f"list-map key {key!r} must be scalar")
                elif key not in items.get("required", []) and "default" not in key_schema:
                    errs.add(where, display, f"list-map key {key!r} must be required or have a default")
        elif "x-kubernetes-list-map-keys" in schema:
            errs.add(where, display, "x-kubernetes-list-map-keys without x-kubernetes-list-type map")
    if "enum" in schema:
        for value in schema["enum"]:
            sub_errs = Errors()
            validate(value, {k: v for k, v in schema.items() if k not in ("enum", "x-kubernetes-validations")},
                     display, where, sub_errs)
            for _, p, m in sub_errs.items:
                errs.add(where, p, f"enum value {value!r} invalid: {m}")
    if "default" in schema:
        # Like the apiserver: the default is validated as written, with no nested defaulting,
        # so a CEL rule on an object defaulted to {} must cope with its fields being absent.
        value = copy.deepcopy(schema["default"])
        sub_errs = Errors()
        validate(value, schema, display, where, sub_errs)
        for _, p, m in sub_errs.items:
            errs.add(where, p, f"default {schema['default']!r} invalid: {m}")


def schema_has_path(schema, json_path):
    """Whether a printer-column jsonPath like .status.phase names a field of the schema."""
    # A list filter such as .status.conditions[?(@.type=="Ready")].status steps into the items.
    json_path = re.sub(r'\[\?\(@\.[A-Za-z]+=="[^"]*"\)\]', "[]", json_path)
    node = schema
    for part in json_path.lstrip(".").split("."):
        if part.endswith("[]"):
            node = node.get("properties", {}).get(part[:-2])
            if node is None or node.get("type") != "array":
                return False
            node = node.get("items", {})
            continue
        if part in ("metadata",) and node is schema:
            return True  # metadata fields come from ObjectMeta
        node = node.get("properties", {}).get(part)
        if node is None:
            return False
    return True


def check_crd(path, errs):
    where = rel(path)
    try:
        docs = load_documents(path)
    except LoadError as e:
        errs.add(where, "", f"cannot load: {e}")
        return None
    if len(docs) != 1:
        errs.add(where, "", f"expected exactly one document, found {len(docs)}")
        return None
    crd = docs[0]
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1" or crd.get("kind") != "CustomResourceDefinition":
        errs.add(where, "", "not an apiextensions.k8s.io/v1 CustomResourceDefinition")
        return None
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    kind = names.get("kind")
    if kind not in EXPECTED_NAMES:
        errs.add(where, "spec.names.kind", f"unexpected kind {kind!r}")
        return None
    plural, short_names = EXPECTED_NAMES[kind]
    if spec.get("group") != GROUP:
        errs.add(where, "spec.group", f"must be {GROUP}")
    if spec.get("scope") != "Cluster":
        errs.add(where, "spec.scope", "must be Cluster")
    if names.get("plural") != plural:
        errs.add(where, "spec.names.plural", f"must be {plural}")
    if crd.get("metadata", {}).get("name") != f"{plural}.{GROUP}":
        errs.add(where, "metadata.name", f"must be {plural}.{GROUP}")
    if names.get("singular") != kind.lower():
        errs.add(where, "spec.names.singular", f"must be {kind.lower()}")
    if names.get("listKind") != kind + "List":
        errs.add(where, "spec.names.listKind", f"must be {kind}List")
    if set(names.get("shortNames", [])) != short_names:
        errs.add(where, "spec.names.shortNames", f"must be {sorted(short_names)}")
    if "bursar" not in names.get("categories", []):
        errs.add(where, "spec.names.categories", "must include bursar")
    if os.path.basename(path) != f"{GROUP}_{plural}.yaml":
        errs.add(where, "", f"file should be named {GROUP}_{plural}.yaml")
    versions = spec.get("versions", [])
    if len(versions) != 1 or versions[0].get("name") != VERSION:
        errs.add(where, "spec.versions", f"expected exactly one version {VERSION}")
        return None
    version = versions[0]
    if not (version.get("served") and version.get("storage")):
        errs.add(where, "spec.versions[0]", "must be served and storage")
    if version.get("subresources", {}).get("status") != {}:
        errs.add(where, "spec.versions[0].subresources.status", "the status subresource is required")
    schema = version.get("schema", {}).get("openAPIV3Schema")
    if not isinstance(schema, dict):
        errs.add(where, "spec.versions[0].schema.openAPIV3Schema", "missing")
        return None
    field_paths = set()
    check_schema_node(schema, "", where, errs, field_paths, is_root=True)
    contract = set(CONTRACT[kind])
    for missing in sorted(contract - field_paths):
        errs.add(where, missing, "contract field missing from the schema")
    for extra in sorted(field_paths - contract):
        errs.add(where, extra, "field not in the API contract (update CONTRACT and controllers/api together)")
    columns = version.get("additionalPrinterColumns", [])
    if not columns:
        errs.add(where, "additionalPrinterColumns", "missing")
    for column in columns:
        json_path = column.get("jsonPath", "")
        if not schema_has_path(schema, json_path):
            errs.add(where, f"additionalPrinterColumns[{column.get('name')}]",
                     f"jsonPath {json_path} is not a schema field")
        if column.get("type") not in ("string", "integer", "number", "boolean", "date"):
            errs.add(where, f"additionalPrinterColumns[{column.get('name')}]", "bad type")
    return kind, schema


# --------------------------------------------------------------------------------------------
# Manifest checks
# --------------------------------------------------------------------------------------------

def check_manifest_doc(doc, where, schemas, errs):
    if not isinstance(doc, dict):
        errs.add(where, "", "document is not a mapping")
        return None
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if api_version != f"{GROUP}/{VERSION}":
        errs.add(where, "apiVersion", f"{api_version!r} is not {GROUP}/{VERSION}")
        return None
    if kind not in schemas:
        errs.add(where, "kind", f"unknown kind {kind!r}")
        return None
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        errs.add(where, ".metadata.name", "required field is missing")
    else:
        name = metadata["name"]
        if not DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
            errs.add(where, ".metadata.name", f"{name!r} is not a DNS-1123 subdomain")
        if "namespace" in metadata:
            errs.add(where, ".metadata.namespace", f"{kind} is cluster-scoped: remove namespace")
    schema = schemas[kind]
    value = apply_defaults(copy.deepcopy(doc), schema)
    # metadata is ObjectMeta: only the constraints the CRD may place on name apply.
    meta_schema = schema.get("properties", {}).get("metadata", {})
    name_schema = meta_schema.get("properties", {}).get("name")
    if name_schema and isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
        validate(metadata["name"], name_schema, ".metadata.name", where, errs)
    value.pop("metadata", None)
    body_schema = dict(schema)
    body_schema["properties"] = {k: v for k, v in schema["properties"].items() if k != "metadata"}
    validate(value, body_schema, "", where, errs)
    return kind


# --------------------------------------------------------------------------------------------
# docs/reference/crds.md: the field tables are generated from the CRDs between markers, and
# checked to be current (run with --write-docs to regenerate them).
# --------------------------------------------------------------------------------------------

DOCS = "docs/reference/crds.md"


def _md(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def _type_text(schema):
    type_name = schema.get("type")
    if type_name == "array":
        return "[]" + _type_text(schema.get("items", {}))
    if type_name == "object" and isinstance(schema.get("additionalProperties"), dict):
        return "map[string]" + _type_text(schema["additionalProperties"])
    if schema.get("format") in ("date-time", "int32", "int64"):
        return f"{type_name} ({schema['format']})"
    return type_name


def _constraints(schema):
    out = []
    if "enum" in schema:
        out.append("one of " + ", ".join(f"`{v}`" for v in schema["enum"]))
    if "minimum" in schema and "maximum" in schema:
        out.append(f"{schema['minimum']}..{schema['maximum']}")
    elif "minimum" in schema:
        out.append(f"≥ {schema['minimum']}")
    elif "maximum" in schema:
        out.append(f"≤ {schema['maximum']}")
    if "pattern" in schema:
        out.append(f"pattern `{_md(schema['pattern'])}`")
    if "minLength" in schema and schema["minLength"] > 0:
        out.append(f"min length {schema['minLength']}")
    if "maxLength" in schema:
        out.append(f"max length {schema['maxLength']}")
    if "maxItems" in schema:
        out.append(f"max {schema['maxItems']} items")
    if "maxProperties" in schema:
        out.append(f"max {schema['maxProperties']} entries")
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        out.append("unique values")
    elif list_type == "map":
        out.append("unique by " + ", ".join(f"`{k}`" for k in schema.get("x-kubernetes-list-map-keys", [])))
    return "; ".join(out)


def _default_text(schema):
    if "default" not in schema:
        return ""
    value = schema["default"]
    if value == {}:
        return "`{}` (fields defaulted)"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return ", ".join("`" + " ".join(str(v) for v in item.values()) + "`" for item in value)
    if isinstance(value, list):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    return f"`{value}`"


def _rows(schema, path, required, rows, rules):
    for rule in schema.get("x-kubernetes-validations", []):
        rules.append((path or "(root)", rule["rule"], rule["message"]))
    if path in ("metadata", "apiVersion", "kind"):
        return
    if path:
        rows.append("| `{}` | {} | {} | {} | {} | {} |".format(
            path, _type_text(schema), "yes" if required else "", _default_text(schema),
            _constraints(schema), _md(schema.get("description", ""))))
    if schema.get("type") == "object":
        req = set(schema.get("required", []))
        for name, sub in schema.get("properties", {}).items():
            _rows(sub, f"{path}.{name}" if path else name, name in req, rows, rules)
        if isinstance(schema.get("additionalProperties"), dict) and schema["additionalProperties"].get("type") == "object":
            _rows(schema["additionalProperties"], f"{path}.*", False, rows, rules)
    elif schema.get("type") == "array" and schema.get("items", {}).get("type") == "object":
        req = set(schema["items"].get("required", []))
        for rule in schema["items"].get("x-kubernetes-validations", []):
            rules.append((f"{path}[]", rule["rule"], rule["message"]))
        for name, sub in schema["items"].get("properties", {}).items():
            _rows(sub, f"{path}[].{name}", name in req, rows, rules)


def generated_docs(kind, schema):
    """The generated Markdown for one kind: field tables for spec and status, then rules."""
    header = ["| Field | Type | Required | Default | Constraints | Description |",
              "| --- | --- | --- | --- | --- | --- |"]
    out = []
    rules = []
    name_schema = schema.get("properties", {}).get("metadata", {}).get("properties", {}).get("name")
    for part in ("spec", "status"):
        rows = []
        sub = schema["properties"][part]
        _rows(sub, part, part in schema.get("required", []), rows, rules)
        title = "Spec" if part == "spec" else "Status (written by Bursar)"
        out += [f"#### {title}", ""] + header + rows + [""]
    out += ["#### Validation rules", ""]
    out.append("Checked by the API server on create and update; a rejected object gets the message.")
    out.append("")
    out.append("| Where | Rule | Message |")
    out.append("| --- | --- | --- |")
    if name_schema and "maxLength" in name_schema:
        out.append(f"| `metadata.name` | at most {name_schema['maxLength']} characters | "
                   "metadata.name is too long |")
    for where, rule, message in rules:
        out.append(f"| `{where}` | `{_md(rule)}` | {_md(message)} |")
    out.append("")
    out.append("Besides these, every field's type, enum, pattern and bounds in the tables above are "
               "enforced, unknown fields are rejected by `kubectl apply` (strict field validation) "
               "and dropped otherwise, and list fields marked unique reject duplicates.")
    return "\n".join(out)


def sync_docs(schemas, errs, write):
    path = os.path.join(ROOT, DOCS)
    if not os.path.exists(path):
        errs.add(DOCS, "", "missing")
        return
    with open(path, encoding="utf-8") as f:
        text = f.read()
    new_text = text
    for kind in EXPECTED_NAMES:
        if kind not in schemas:
            continue
        begin = f"<!-- BEGIN GENERATED {kind}: tests/crds/check_crds.py --write-docs -->"
        end = f"<!-- END GENERATED {kind} -->"
        start, stop = new_text.find(begin), new_text.find(end)
        if start < 0 or stop < start:
            errs.add(DOCS, kind, f"markers {begin!r} ... {end!r} not found")
            continue
        new_text = (new_text[:start + len(begin)] + "\n\n" + generated_docs(kind, schemas[kind])
                    + "\n\n" + new_text[stop:])
    if new_text != text:
        if write:
            with open(path, "w", encoding="utf-8") as f:
                f.write(new_text)
            print(f"check_crds: rewrote the generated sections of {DOCS}")
        else:
            errs.add(DOCS, "", "generated field tables are stale: run python3 tests/crds/check_crds.py --write-docs")


def main():
    verbose = "-v" in sys.argv[1:]
    errs = Errors()
    passed = failed = 0

    def record(name, before):
        nonlocal passed, failed
        if len(errs) == before:
            passed += 1
            if verbose:
                print(f"ok   {name}")
        else:
            failed += 1

    schemas = {}
    crd_files = sorted(glob.glob(os.path.join(ROOT, "crds", "*.yaml")))
    if not crd_files:
        errs.add("crds/", "", "no CRD files found")
    for path in crd_files:
        before = len(errs)
        result = check_crd(path, errs)
        if result:
            schemas[result[0]] = result[1]
        record(rel(path), before)
    before = len(errs)
    for kind in EXPECTED_NAMES:
        if kind not in schemas:
            errs.add("crds/", "", f"no CRD for kind {kind}")
    record("one CRD per kind", before)

    seen_kinds = set()
    for directory in EXAMPLE_DIRS:
        files = sorted(glob.glob(os.path.join(ROOT, directory, "*.yaml")))
        if not files:
            before = len(errs)
            errs.add(directory, "", "no example manifests")
            record(directory, before)
        for path in files:
            before = len(errs)
            try:
                docs = load_documents(path)
                if not docs:
                    errs.add(rel(path), "", "no documents")
            except LoadError as e:
                errs.add(rel(path), "", f"cannot load: {e}")
                docs = []
            for i, doc in enumerate(docs):
                where = rel(path) if len(docs) == 1 else f"{rel(path)}#{i}"
                kind = check_manifest_doc(doc, where, schemas, errs)
                if kind:
                    seen_kinds.add(kind)
            record(rel(path), before)
    before = len(errs)
    for kind in EXPECTED_NAMES:
        if kind not in seen_kinds:
            errs.add("examples/", "", f"no example manifest of kind {kind}")
    record("an example per kind", before)

    # Negative cases: each must fail, with the expected text in one of its errors.
    for path in sorted(glob.glob(os.path.join(ROOT, INVALID_DIR, "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            first = f.readline()
        match = re.match(r"#\s*expect:\s*(.+?)\s*$", first)
        before = len(errs)
        if not match:
            errs.add(rel(path), "", 'first line must be "# expect: <error text>"')
        else:
            case_errs = Errors()
            try:
                docs = load_documents(path)
            except LoadError as e:
                case_errs.add(rel(path), "", f"cannot load: {e}")
                docs = []
            for doc in docs:
                check_manifest_doc(doc, rel(path), schemas, case_errs)
            texts = [f"{p}: {m}" for _, p, m in case_errs.items]
            if not any(match.group(1) in t for t in texts):
                errs.add(rel(path), "", f"expected an error containing {match.group(1)!r}, got {texts or 'none'}")
            elif verbose:
                print(f"     {rel(path)} rejected: {texts[0]}")
        record(rel(path), before)

    before = len(errs)
    if len(schemas) == len(EXPECTED_NAMES):
        sync_docs(schemas, errs, "--write-docs" in sys.argv[1:])
    record(DOCS, before)

    for where, path, message in errs.items:
        print(f"FAIL {where}: {path or '<document>'}: {message}")
    print(f"check_crds: {passed} passed, {failed} failed")
    return 1 if errs.items else 0


if __name__ == "__main__":
    sys.exit(main())
