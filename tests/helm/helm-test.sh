#!/usr/bin/env bash
# The Helm chart (helm/bursar) against a real kube-apiserver: lint and render, the CRD copies
# against crds/, the values schema, install with CRDs, a full reconcile by the operator using
# only the chart's ServiceAccount (no RBAC denial), verbs outside the chart's RBAC denied,
# upgrade, and uninstall keeping CRDs and budgets. No kubelets: the chart's pods never run (no
# rollout wait); the operator under test is build/bursar, run here with a token of the chart's
# ServiceAccount and the settings file the chart rendered.
#
#   tests/cluster/with-cluster.sh -- tests/helm/helm-test.sh
#
# Prints one line per check and "N passed, N failed" last; exits 1 if any check failed. A failed
# check prints its output indented below it. Settings: BURSAR_BIN (default build/bursar),
# BURSAR_HELM_TEST_TIMEOUT (seconds to wait for the reconcile, default 60).
set -euo pipefail

: "${KUBECONFIG:?run this through tests/cluster/with-cluster.sh (KUBECONFIG is unset)}"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCRIPT_NAME=helm/helm-test
# shellcheck source=tests/cluster/lib.sh
source "$REPO/tests/cluster/lib.sh" # check, log, die, make_grpc_tls
KUBECTL=${BURSAR_TEST_KUBECTL:-kubectl}
HELM=${BURSAR_TEST_HELM:-helm}
BURSAR=${BURSAR_BIN:-$REPO/build/bursar}
TIMEOUT=${BURSAR_HELM_TEST_TIMEOUT:-60}

for tool in "$KUBECTL" "$HELM" python3 curl; do
  command -v "$tool" >/dev/null || {
    echo "helm-test: '$tool' is not installed" >&2
    exit 1
  }
done
[[ -x $BURSAR ]] || {
  echo "helm-test: $BURSAR is missing; build it (make build) or set BURSAR_BIN" >&2
  exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bursar-helm-test.XXXXXX")
# Helm's own caches and config stay in the scratch folder: the test touches nothing in $HOME.
export HELM_CACHE_HOME=$WORK/helm/cache HELM_CONFIG_HOME=$WORK/helm/config
export HELM_DATA_HOME=$WORK/helm/data
OPERATOR_PID=""
cleanup() {
  if [[ -n $OPERATOR_PID ]]; then kill -TERM "$OPERATOR_PID" 2>/dev/null || true; fi
  if [[ -n ${BURSAR_HELM_TEST_KEEP:-} ]]; then echo "helm-test: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

passed=0 failed=0
started=$SECONDS

kc() { "$KUBECTL" "$@"; }
helm() { "$HELM" "$@"; }
# shellcheck source=tests/helm/reconcile-lib.sh
source "$REPO/tests/helm/reconcile-lib.sh" # chart_installs, operator_reconciles_with_chart_rbac

# expect_failure WHAT TEXT COMMAND... — COMMAND must fail and print TEXT.
expect_failure() {
  local what=$1 text=$2 out
  shift 2
  if out=$("$@" 2>&1); then
    echo "$what was accepted; expected a failure saying '$text'"
    return 1
  fi
  grep -qF -- "$text" <<<"$out" || {
    echo "$what failed, but without '$text':"
    printf '%s\n' "$out"
    return 1
  }
}

# Every value the chart has, switched on: the widest render.
ALL_ON=(--set serviceMonitor.enabled=true --set prometheusRule.enabled=true
  --set grafanaDashboard.enabled=true --set priceBook.create=true --set operator.metricsApi=true
  --set integrations.kueue=true --set integrations.clusterAPI=true
  --set integrations.karpenter=true --set integrations.kwok=true
  --set operator.prometheus.url=https://prometheus.monitoring:9090
  --set operator.prometheus.caConfigMap.name=prometheus-ca
  --set grpc.tokenAudience=bursar --set 'grpc.reporters.models={fraud,churn}'
  --set 'grpc.reporters.serviceAccounts[0].namespace=ml'
  --set 'grpc.reporters.serviceAccounts[0].name=drift-monitor'
  --set 'networkPolicy.grpcFromNamespaces={ml}' --set networkPolicy.webhookPort=9443)

# ---------------------------------------------------------------------------------------------
# Offline: lint, render, CRDs, schema

chart_lints() {
  helm lint --strict "$CHART" || return 1
  helm lint --strict "$CHART" "${ALL_ON[@]}" || return 1
}

# Renders with defaults and with everything on; every document must parse, the expected kinds
# must be there, and no RBAC rule may hold a wildcard.
chart_renders() {
  helm template "$RELEASE" "$CHART" -n "$NS" >"$WORK/default.yaml" || return 1
  helm template "$RELEASE" "$CHART" -n "$NS" "${ALL_ON[@]}" >"$WORK/all.yaml" || return 1
  python3 - "$WORK/default.yaml" "$WORK/all.yaml" <<'EOF' || return 1
import sys, yaml
def kinds(path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    return docs, sorted({d["kind"] for d in docs})
default, k_default = kinds(sys.argv[1])
every, k_all = kinds(sys.argv[2])
want = {"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
        "RoleBinding", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"}
missing = want - set(k_default)
assert not missing, f"default render lacks {missing}"
extra = {"ServiceMonitor", "PrometheusRule"} - set(k_all)
assert not extra, f"full render lacks {extra}"
for d in default + every:
    if d["kind"] in ("ClusterRole", "Role"):
        for r in d["rules"]:
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in r.get(key, []), f"wildcard in {d['kind']} rule {r}"
dep = next(d for d in default if d["kind"] == "Deployment")
spec = dep["spec"]["template"]["spec"]
c = spec["containers"][0]
sc = c["securityContext"]
assert dep["spec"]["replicas"] == 2
assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"], sc
assert sc["capabilities"]["drop"] == ["ALL"] and sc["seccompProfile"]["type"] == "RuntimeDefault"
assert spec["securityContext"]["runAsNonRoot"] is True
assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in c["env"]}
assert env.get("POD_NAMESPACE") == "metadata.namespace" and env.get("POD_NAME") == "metadata.name"
assert "--id=$(POD_NAME)" in c["args"], c["args"]
# gRPC: TLS from the Secret by default, the operator may ask TokenReview/SubjectAccessReview,
# and the gRPC port is closed to everyone until namespaces are listed.
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
assert mounts.get("grpc-tls") == "/etc/bursar/grpc-tls", mounts
vols = {v["name"]: v for v in spec["volumes"]}
assert vols["grpc-tls"]["secret"]["secretName"] == "bursar-grpc-tls", vols
op_rules = next(d for d in default if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "bursar")["rules"]
assert {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]} in op_rules
assert {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]} in op_rules
np = next(d for d in default if d["kind"] == "NetworkPolicy")
assert [p["port"] for r in np["spec"]["ingress"] for p in r["ports"]] == [8081], np
np_all = next(d for d in every if d["kind"] == "NetworkPolicy")
assert [p["port"] for r in np_all["spec"]["ingress"] for p in r["ports"]] == [8081, 9090, 9443], np_all
reporter = next(d for d in every if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "bursar-drift-reporter")
assert reporter["rules"] == [{"apiGroups": ["bursar.dev"], "resources": ["models/drift"],
                              "verbs": ["create"], "resourceNames": ["fraud", "churn"]}], reporter
print("kinds:", ", ".join(k_all))
EOF
  # A release name without "bursar" gets prefixed names; the bindings must follow.
  helm template other "$CHART" -n ops >"$WORK/other.yaml" || return 1
  grep -q 'name: other-bursar$' "$WORK/other.yaml" || {
    echo "release 'other' does not render names like other-bursar"
    return 1
  }
}

crds_match_source() {
  "$REPO/tests/helm/sync-crds.sh" --check || return 1
  # The rendered CRDs are the source objects plus the keep annotation, nothing else.
  helm template "$RELEASE" "$CHART" --show-only templates/crds/bursar.dev_computebudgets.yaml \
    --show-only templates/crds/bursar.dev_gpunodepools.yaml \
    --show-only templates/crds/bursar.dev_pricebooks.yaml >"$WORK/crds-keep.yaml" || return 1
  helm template "$RELEASE" "$CHART" --set crds.keep=false \
    --show-only templates/crds/bursar.dev_computebudgets.yaml \
    --show-only templates/crds/bursar.dev_gpunodepools.yaml \
    --show-only templates/crds/bursar.dev_pricebooks.yaml >"$WORK/crds-nokeep.yaml" || return 1
  python3 - "$REPO/crds" "$WORK/crds-keep.yaml" "$WORK/crds-nokeep.yaml" <<'EOF' || return 1
import copy, glob, sys, yaml
source = {d["metadata"]["name"]: d for f in sorted(glob.glob(sys.argv[1] + "/*.yaml"))
          for d in yaml.safe_load_all(open(f)) if d}
keep = {d["metadata"]["name"]: d for d in yaml.safe_load_all(open(sys.argv[2])) if d}
nokeep = {d["metadata"]["name"]: d for d in yaml.safe_load_all(open(sys.argv[3])) if d}
assert set(source) == set(keep) == set(nokeep), (set(source), set(keep), set(nokeep))
for name, src in source.items():
    assert nokeep[name] == src, f"{name}: rendered with crds.keep=false differs from crds/"
    want = copy.deepcopy(src)
    want["metadata"]["annotations"] = {"helm.sh/resource-policy": "keep"}
    assert keep[name] == want, f"{name}: rendered with crds.keep=true is not crds/ + keep"
EOF
  helm template "$RELEASE" "$CHART" --set crds.enabled=false >"$WORK/no-crds.yaml" || return 1
  if grep -q 'kind: CustomResourceDefinition' "$WORK/no-crds.yaml"; then
    echo "crds.enabled=false still renders CRDs"
    return 1
  fi
}

schema_rejects_unknown_key() {
  expect_failure "--set bogus=1" "bogus" \
    helm template "$RELEASE" "$CHART" --set bogus=1 || return 1
  expect_failure "--set bogus=1" "values don't meet the specifications of the schema" \
    helm template "$RELEASE" "$CHART" --set bogus=1 || return 1
  # A typo one level down, and in install (not only template).
  expect_failure "--set operator.tik=1s" "tik" \
    helm install --dry-run=client "$RELEASE" "$CHART" --set operator.tik=1s || return 1
}

schema_rejects_wrong_type() {
  expect_failure "--set replicaCount=two" "replicaCount" \
    helm template "$RELEASE" "$CHART" --set replicaCount=two || return 1
  expect_failure "--set-string crds.keep=yes" "keep" \
    helm template "$RELEASE" "$CHART" --set-string crds.keep=yes || return 1
  expect_failure "--set operator.logLevel=loud" "logLevel" \
    helm template "$RELEASE" "$CHART" --set operator.logLevel=loud || return 1
}

# The PrometheusRule's groups are valid Prometheus rules (promtool ships with Debian's
# prometheus, which tools/install-deps.sh installs), and the dashboard is valid JSON that only
# queries metrics the operator exports.
alerts_and_dashboard_are_valid() {
  command -v promtool >/dev/null || {
    echo "promtool is not installed (Debian package prometheus; tools/install-deps.sh)"
    return 1
  }
  python3 - "$WORK/all.yaml" "$WORK/rules.yaml" "$WORK/dashboard.json" <<'EOF' || return 1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
rule = next(d for d in docs if d["kind"] == "PrometheusRule")
yaml.safe_dump({"groups": rule["spec"]["groups"]}, open(sys.argv[2], "w"))
names = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
want = {"BursarBudgetAtRisk", "BursarBudgetExhausted", "BursarOperatorDown",
        "BursarBudgetStatusNotWritten"}
assert want <= names, f"missing alerts: {want - names}"
cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard"))
open(sys.argv[3], "w").write(cm["data"]["bursar-budgets.json"])
EOF
  promtool check rules "$WORK/rules.yaml" || return 1
  # A budget whose status writes keep failing raises BursarBudgetStatusNotWritten; one that
  # failed once and recovered does not.
  python3 - "$WORK/rules.yaml" "$WORK/rules-test.yaml" <<'EOF' || return 1
import re, sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
rule = next(r for g in rules["groups"] for r in g["rules"]
            if r.get("alert") == "BursarBudgetStatusNotWritten")
job = re.search(r'job="([^"]+)"', rule["expr"]).group(1)
series = 'bursar_status_write_failures_total{job="%s",budget="%s"}'
annotations = {k: v.replace("{{ $labels.budget }}", "refused")
               for k, v in rule["annotations"].items()}
yaml.safe_dump({
    "rule_files": ["rules.yaml"],
    "evaluation_interval": "1m",
    "tests": [{
        "interval": "1m",
        "input_series": [{"series": series % (job, "refused"), "values": "0+4x15"},
                         {"series": series % (job, "recovered"), "values": "0 1 1x14"}],
        "alert_rule_test": [{
            "eval_time": "10m", "alertname": "BursarBudgetStatusNotWritten",
            "exp_alerts": [{"exp_labels": dict(rule["labels"], budget="refused"),
                            "exp_annotations": annotations}]}],
    }],
}, open(sys.argv[2], "w"))
EOF
  promtool test rules "$WORK/rules-test.yaml" || return 1
  python3 - "$WORK/dashboard.json" "$REPO" <<'EOF' || return 1
import json, re, subprocess, sys
dash = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
used = {m for e in exprs for m in re.findall(r"\b(bursar_[a-z_]+)", e)}
for want in ("bursar_budget_spent", "bursar_budget_limit", "bursar_budget_forecast",
             "bursar_budget_burn_rate", "bursar_pool_nodes"):
    assert want in used, f"the dashboard does not chart {want}"
src = subprocess.run(["grep", "-rhoE", r'"bursar_[a-z_]+"', sys.argv[2] + "/controllers",
                      sys.argv[2] + "/operator"], capture_output=True, text=True).stdout
exported = {s.strip('"') for s in src.split()}
unknown = used - exported
assert not unknown, f"the dashboard queries metrics the operator does not export: {unknown}"
EOF
}

# ---------------------------------------------------------------------------------------------
# Against the apiserver


# The widest render (every option on) passes the apiserver's validation, except the Prometheus
# Operator kinds, whose CRDs this cluster does not have. Server-side dry run: nothing is stored.
full_render_is_valid() {
  python3 - "$WORK/all.yaml" >"$WORK/all-core.yaml" <<'EOF' || return 1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
print(yaml.safe_dump_all([d for d in docs if d["kind"] not in ("ServiceMonitor", "PrometheusRule")]))
EOF
  kc apply --dry-run=server --validate=strict -n "$NS" -f "$WORK/all-core.yaml" >/dev/null || return 1
}

# start_operator — for operator_reconciles_with_chart_rbac (tests/helm/reconcile-lib.sh): the
# host's build/bursar with the chart's settings and the ServiceAccount's kubeconfig.
start_operator() {
  "$BURSAR" run --config "$WORK/config.yaml" --kubeconfig "$WORK/sa.kubeconfig" --tick 1s \
    --leader-election-namespace "$NS" --id helm-test-0 --health-addr 127.0.0.1:0 \
    --grpc-addr 127.0.0.1:0 --log-format json --address-file "$WORK/addresses" \
    --grpc-tls-cert-file "$WORK/grpc-tls/tls.crt" --grpc-tls-key-file "$WORK/grpc-tls/tls.key" \
    >"$WORK/operator.log" 2>&1 &
  OPERATOR_PID=$!
}

# can_i EXPECTED VERB RESOURCE [ARGS...] — kubectl auth can-i as the chart's ServiceAccount.
can_i() {
  local want=$1 got
  shift
  got=$(kc auth can-i "$@" --as="$SA" 2>/dev/null) || true
  [[ $got == "$want" ]] || {
    echo "can-i $*: '$got', expected '$want'"
    return 1
  }
}

rbac_denies_what_it_does_not_grant() {
  local bad=0
  can_i no delete computebudgets.bursar.dev || bad=1
  can_i no update computebudgets.bursar.dev || bad=1
  can_i no patch computebudgets.bursar.dev || bad=1
  can_i no create deployments.apps -n "$NS" || bad=1
  can_i no get secrets -n default || bad=1
  can_i no list secrets -n "$NS" || bad=1
  can_i no update leases.coordination.k8s.io/someone-elses -n "$NS" || bad=1
  can_i no create leases.coordination.k8s.io -n default || bad=1
  can_i no patch clusterqueues.kueue.x-k8s.io || bad=1
  can_i no patch machinedeployments.cluster.x-k8s.io --subresource=scale -n default || bad=1
  # ...and what it does grant.
  can_i yes patch computebudgets.bursar.dev --subresource=status || bad=1
  can_i yes patch gpunodepools.bursar.dev --subresource=status || bad=1
  can_i yes update leases.coordination.k8s.io/bursar-operator -n "$NS" || bad=1
  can_i yes get secrets -n "$NS" || bad=1
  can_i yes patch jobs.batch -n "$TEAM_NS" || bad=1
  # gRPC callers are checked with TokenReview and SubjectAccessReview.
  can_i yes create tokenreviews.authentication.k8s.io || bad=1
  can_i yes create subjectaccessreviews.authorization.k8s.io || bad=1
  ((bad == 0)) || return 1
  # A real request with the token, not only the authorizer's opinion.
  expect_failure "deleting a ComputeBudget with the chart's token" "Forbidden" \
    "$KUBECTL" --kubeconfig "$WORK/sa.kubeconfig" delete computebudget "$BUDGET" || return 1
  kc get computebudget "$BUDGET" >/dev/null || return 1
}

chart_upgrades() {
  local before after
  before=$(kc -n "$NS" get deployment bursar \
    -o jsonpath='{.spec.template.metadata.annotations.checksum/config}') || return 1
  helm upgrade "$RELEASE" "$CHART" -n "$NS" --reuse-values --set operator.tick=30s \
    --set priceBook.create=true || return 1
  kc -n "$NS" get configmap bursar-config -o jsonpath='{.data.config\.yaml}' \
    >"$WORK/config-after.yaml" || return 1
  grep -q '^tick: "30s"$' "$WORK/config-after.yaml" || {
    echo "the ConfigMap does not say tick: 30s after the upgrade"
    return 1
  }
  after=$(kc -n "$NS" get deployment bursar \
    -o jsonpath='{.spec.template.metadata.annotations.checksum/config}') || return 1
  [[ $before != "$after" ]] || {
    echo "the pod template's checksum/config did not change, so pods would not roll"
    return 1
  }
  kc get pricebook default >/dev/null || return 1
  [[ $(helm status "$RELEASE" -n "$NS" -o json | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["info"]["status"])') == deployed ]] || return 1
  kc get computebudget "$BUDGET" >/dev/null || return 1
}

uninstall_keeps_crds_and_budgets() {
  local uid
  uid=$(kc get computebudget "$BUDGET" -o jsonpath='{.metadata.uid}') || return 1
  helm uninstall "$RELEASE" -n "$NS" --wait --timeout 60s || return 1
  kc get crd computebudgets.bursar.dev gpunodepools.bursar.dev pricebooks.bursar.dev || return 1
  [[ $(kc get computebudget "$BUDGET" -o jsonpath='{.metadata.uid}') == "$uid" ]] || {
    echo "ComputeBudget $BUDGET is gone or was re-created"
    return 1
  }
  kc get "gpunodepool/$POOL" pricebook/default pricebook/helm-prices >/dev/null || return 1
  if kc get clusterrole bursar >/dev/null 2>&1 || kc -n "$NS" get deployment bursar >/dev/null 2>&1; then
    echo "the release's ClusterRole or Deployment is still there"
    return 1
  fi
}

reinstall_adopts_kept_crds() {
  helm install "$RELEASE" "$CHART" -n "$NS" || return 1
  kc get computebudget "$BUDGET" >/dev/null || return 1
}

check "helm lint --strict (defaults, and every option on)" chart_lints
check "helm template renders; hardened Deployment; no RBAC wildcards" chart_renders
check "chart CRDs match crds/ (tests/helm/sync-crds.sh --check; rendered == source)" crds_match_source
check "values.schema.json rejects an unknown key (--set bogus=1, operator.tik)" schema_rejects_unknown_key
check "values.schema.json rejects a wrong type" schema_rejects_wrong_type
check "PrometheusRule passes promtool; dashboard charts exported metrics" \
  alerts_and_dashboard_are_valid
check "helm install into the apiserver, CRDs included and Established" chart_installs
check "every-option render passes server-side validation (dry run, strict)" full_render_is_valid
check "operator with the chart's ServiceAccount token reconciles with no RBAC denial" \
  operator_reconciles_with_chart_rbac
check "verbs outside the chart's RBAC are denied; granted ones allowed" \
  rbac_denies_what_it_does_not_grant
check "helm upgrade (tick 30s, default PriceBook) succeeds and rolls the config" chart_upgrades
check "helm uninstall (crds.keep=true) leaves the CRDs and budgets in place" \
  uninstall_keeps_crds_and_budgets
check "helm install again adopts the kept CRDs" reinstall_adopts_kept_crds

echo "$passed passed, $failed failed ($((SECONDS - started))s)"
((failed == 0))
