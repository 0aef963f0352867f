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
source "$REPO/tests/cluster/lib.sh" # check, log, die
CHART=$REPO/helm/bursar
KUBECTL=${BURSAR_TEST_KUBECTL:-kubectl}
HELM=${BURSAR_TEST_HELM:-helm}
BURSAR=${BURSAR_BIN:-$REPO/build/bursar}
TIMEOUT=${BURSAR_HELM_TEST_TIMEOUT:-60}
NS=bursar-system
RELEASE=bursar
SA=system:serviceaccount:$NS:bursar # the release name contains "bursar": names are "bursar"
TEAM_NS=helm-team
BUDGET=helm-budget
POOL=helm-kwok-pool

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

# wait_for DESCRIPTION COMMAND... — polls COMMAND every 0.5 s until it succeeds or TIMEOUT; gives
# up at once when the function named in $GIVE_UP_IF (if any) succeeds.
GIVE_UP_IF=""
wait_for() {
  local what=$1 deadline=$((SECONDS + TIMEOUT))
  shift
  until "$@" >/dev/null 2>&1; do
    if [[ -n $GIVE_UP_IF ]] && "$GIVE_UP_IF"; then
      echo "gave up waiting for $what: $GIVE_UP_IF"
      return 1
    fi
    ((SECONDS < deadline)) || {
      echo "timed out after ${TIMEOUT}s waiting for $what"
      return 1
    }
    sleep 0.5
  done
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
  --set 'networkPolicy.grpcFromNamespaces={ml}' --set webhook.enabled=true)
# The webhook with its certificate from cert-manager instead of Bursar.
CERT_MANAGER=(--set webhook.enabled=true --set webhook.certManager.enabled=true)

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
assert "from" not in np_all["spec"]["ingress"][2], np_all  # the API server, from anywhere
reporter = next(d for d in every if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "bursar-drift-reporter")
assert reporter["rules"] == [{"apiGroups": ["bursar.dev"], "resources": ["models/drift"],
                              "verbs": ["create"], "resourceNames": ["fraud", "churn"]}], reporter
# The admission webhook: off by default; on, both configurations fail open, time out fast,
# never see kube-system or the release namespace, filter with CEL, leave caBundle to Bursar,
# and the RBAC that fills caBundle and rotates the Secret is limited to their names.
assert not {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} & set(k_default)
paths = {}
for d in every:
    if d["kind"] in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert d["metadata"]["name"] == "bursar-webhook", d["metadata"]
        assert "annotations" not in d["metadata"], d["metadata"]
        for w in d["webhooks"]:
            paths[d["kind"]] = w["clientConfig"]["service"]["path"]
            assert w["clientConfig"]["service"]["name"] == "bursar-webhook"
            assert "caBundle" not in w["clientConfig"], w
            assert w["failurePolicy"] == "Ignore" and w["timeoutSeconds"] <= 5, w
            assert w["sideEffects"] == "None", w
            excluded = w["namespaceSelector"]["matchExpressions"][0]
            assert excluded["operator"] == "NotIn" and {"kube-system", "bursar-system"} <= set(excluded["values"]), excluded
            assert w["matchConditions"], w
assert paths == {"MutatingWebhookConfiguration": "/mutate-jobs",
                 "ValidatingWebhookConfiguration": "/validate-pods"}, paths
all_rules = [r for d in every if d["kind"] in ("ClusterRole", "Role") for r in d["rules"]]
for r in all_rules:
    if {"mutatingwebhookconfigurations", "validatingwebhookconfigurations"} & set(r["resources"]):
        assert r["resourceNames"] == ["bursar-webhook"] and r["verbs"] == ["get", "update"], r
    if "secrets" in r["resources"] and "update" in r["verbs"]:
        assert r["resourceNames"] == ["bursar-webhook-tls"], r
assert sum(1 for r in all_rules if "validatingwebhookconfigurations" in r["resources"]) == 1
svc = next(d for d in every if d["kind"] == "Service" and d["metadata"]["name"] == "bursar-webhook")
assert svc["spec"]["ports"][0]["port"] == 443 and svc["spec"]["ports"][0]["targetPort"] == "https-webhook"
dep_all = next(d for d in every if d["kind"] == "Deployment")["spec"]["template"]["spec"]
assert {"name": "https-webhook", "containerPort": 9443, "protocol": "TCP"} in dep_all["containers"][0]["ports"]
assert next(v for v in dep_all["volumes"] if v["name"] == "webhook-tls")["emptyDir"]["medium"] == "Memory"
config = yaml.safe_load(next(d for d in every if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "bursar-config")["data"]["config.yaml"])
assert config["webhookCerts"] == "self" and config["webhookConfigurations"] == "mutating/bursar-webhook,validating/bursar-webhook", config
print("kinds:", ", ".join(k_all))
EOF
  # A release name without "bursar" gets prefixed names; the bindings must follow.
  helm template other "$CHART" -n ops >"$WORK/other.yaml" || return 1
  grep -q 'name: other-bursar$' "$WORK/other.yaml" || {
    echo "release 'other' does not render names like other-bursar"
    return 1
  }
}

# With cert-manager: a Certificate for the webhook Service from a self-signed Issuer, cainjector
# annotations, the Secret mounted at the cert dir, and no RBAC to write Secrets or caBundle.
webhook_cert_manager_renders() {
  helm template "$RELEASE" "$CHART" -n "$NS" "${CERT_MANAGER[@]}" >"$WORK/cm.yaml" || return 1
  python3 - "$WORK/cm.yaml" <<'EOF' || return 1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cert = next(d for d in docs if d["kind"] == "Certificate")
assert cert["spec"]["secretName"] == "bursar-webhook-tls", cert
assert "bursar-webhook.bursar-system.svc" in cert["spec"]["dnsNames"], cert
assert cert["spec"]["issuerRef"] == {"name": "bursar-webhook", "kind": "Issuer"}, cert
assert next(d for d in docs if d["kind"] == "Issuer")["spec"] == {"selfSigned": {}}
for d in docs:
    if d["kind"] in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert d["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "bursar-system/bursar-webhook"
spec = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
assert next(v for v in spec["volumes"] if v["name"] == "webhook-tls")["secret"]["secretName"] == "bursar-webhook-tls"
config = yaml.safe_load(next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "bursar-config")["data"]["config.yaml"])
assert config["webhookCerts"] == "external" and "webhookConfigurations" not in config, config
for d in docs:
    if d["kind"] in ("ClusterRole", "Role"):
        for r in d["rules"]:
            assert not {"mutatingwebhookconfigurations", "validatingwebhookconfigurations"} & set(r["resources"]), r
            assert not ("secrets" in r["resources"] and {"create", "update"} & set(r["verbs"])), r
EOF
  # An issuer of the user's: no Issuer rendered.
  helm template "$RELEASE" "$CHART" -n "$NS" "${CERT_MANAGER[@]}" \
    --set webhook.certManager.issuerRef.name=corp-ca \
    --set webhook.certManager.issuerRef.kind=ClusterIssuer >"$WORK/cm-issuer.yaml" || return 1
  if grep -q '^kind: Issuer' "$WORK/cm-issuer.yaml"; then
    echo "issuerRef given, yet the chart renders its own Issuer"
    return 1
  fi
  grep -q 'kind: ClusterIssuer' "$WORK/cm-issuer.yaml" || return 1
  expect_failure "--set webhook.failurePolicy=Sometimes" "failurePolicy" \
    helm template "$RELEASE" "$CHART" --set webhook.failurePolicy=Sometimes || return 1
  expect_failure "--set webhook.timeoutSeconds=60" "timeoutSeconds" \
    helm template "$RELEASE" "$CHART" --set webhook.timeoutSeconds=60 || return 1
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

chart_installs() {
  # integrations.kwok: the reconcile below uses a Kwok GPUNodePool (the operator creates Nodes).
  # webhook.enabled: the operator below makes the webhook certificate with the chart's RBAC. The
  # pods never run, so the webhooks fail open (no endpoints) for the creates that follow.
  helm install "$RELEASE" "$CHART" -n "$NS" --create-namespace \
    --set integrations.kwok=true --set webhook.enabled=true || return 1
  kc get mutatingwebhookconfiguration/bursar-webhook validatingwebhookconfiguration/bursar-webhook \
    || return 1
  kc -n "$NS" get service/bursar-webhook || return 1
  kc wait --for=condition=Established --timeout=60s crd/computebudgets.bursar.dev \
    crd/gpunodepools.bursar.dev crd/pricebooks.bursar.dev || return 1
  kc -n "$NS" get deployment/bursar serviceaccount/bursar configmap/bursar-config \
    service/bursar-metrics role/bursar rolebinding/bursar || return 1
  kc get clusterrole/bursar clusterrolebinding/bursar || return 1
  [[ $(kc get crd computebudgets.bursar.dev \
    -o jsonpath='{.metadata.annotations.helm\.sh/resource-policy}') == keep ]] || {
    echo "the CRD lacks helm.sh/resource-policy: keep"
    return 1
  }
}

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

# A kubeconfig for the chart's ServiceAccount: a TokenRequest token, the server and CA of
# $KUBECONFIG.
write_sa_kubeconfig() {
  local token server ca
  token=$(kc -n "$NS" create token bursar --duration=1h) || return 1
  server=$(kc config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}') || return 1
  ca=$(kc config view --raw --minify \
    -o jsonpath='{.clusters[0].cluster.certificate-authority-data}') || return 1
  if [[ -z $ca ]]; then
    local ca_file
    ca_file=$(kc config view --raw --minify \
      -o jsonpath='{.clusters[0].cluster.certificate-authority}') || return 1
    ca=$(base64 -w0 <"$ca_file") || return 1
  fi
  cat >"$WORK/sa.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
- name: bursar-sa
  user: {token: "$token"}
contexts:
- name: bursar-sa
  context: {cluster: test, user: bursar-sa}
current-context: bursar-sa
EOF
  chmod 0600 "$WORK/sa.kubeconfig"
  [[ $("$KUBECTL" --kubeconfig "$WORK/sa.kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}') == "$SA" ]] || {
    echo "the token does not authenticate as $SA"
    return 1
  }
}

# A budget that is already over its limit, so that one pass takes every write path the chart's
# RBAC must allow: status of the budget and the pool, its ResourceQuota (created by server-side
# apply), a Node made by the Kwok provider (create, status patch), Events on the budget (in
# "default") and on a Job, and the Job suspended (Drain). Its pod is bound to the Node the pool
# creates and marked Running two days ago by hand: there is no kubelet or scheduler here.
apply_budget_fixtures() {
  local job_uid started
  kc create namespace "$TEAM_NS" --dry-run=client -o yaml | kc apply -f - || return 1
  kc apply -f - <<EOF || return 1
apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata:
  name: helm-prices
spec:
  currency: USD
  defaults: {cpuCoreHour: "0.031611", memoryGiBHour: "0.004237", gpuHour: "0.95"}
  gpus:
    - {model: NVIDIA-A100-SXM4-80GB, capacityType: OnDemand, pricePerHour: "5.12"}
---
apiVersion: bursar.dev/v1alpha1
kind: GPUNodePool
metadata:
  name: $POOL
spec:
  provider:
    type: Kwok
    kwok: {nodeNamePrefix: helm-kwok-}
  nodeSelector: {bursar.dev/pool: $POOL, type: kwok}
  gpuType: NVIDIA-A100-SXM4-80GB
  gpusPerNode: 8
  capacityType: OnDemand
  priceBookRef: helm-prices
  minNodes: 1
  maxNodes: 2
  maxScaleStep: 1
  scaleDownDelay: 1m
---
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata:
  name: $BUDGET
spec:
  scope:
    namespaces: [$TEAM_NS]
  limit: {amount: "10", currency: USD}
  period: {type: Monthly, timeZone: UTC, startDay: 1}
  pacing: {mode: Even, burstPercent: 10}
  thresholds:
    - {percent: 50, action: Notify}
    - {percent: 90, action: Hold}
    - {percent: 100, action: Drain}
  enforcement: Enforce
  quota:
    mode: ResourceQuota
    resources: [nvidia.com/gpu]
  nodePools: [$POOL]
  priceBookRef: helm-prices
---
apiVersion: batch/v1
kind: Job
metadata:
  name: train
  namespace: $TEAM_NS
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: train
          image: trainer
          resources:
            limits: {nvidia.com/gpu: "8"}
EOF
  job_uid=$(kc -n "$TEAM_NS" get job train -o jsonpath='{.metadata.uid}') || return 1
  kc apply -f - <<EOF || return 1
apiVersion: v1
kind: Pod
metadata:
  name: train-0
  namespace: $TEAM_NS
  labels: {batch.kubernetes.io/job-name: train, job-name: train}
  ownerReferences:
    - {apiVersion: batch/v1, kind: Job, name: train, uid: "$job_uid", controller: true}
spec:
  nodeName: helm-kwok-0
  restartPolicy: Never
  containers:
    - name: train
      image: trainer
      resources:
        limits: {nvidia.com/gpu: "8"}
EOF
  started=$(date -u -d '-2 days' +%Y-%m-%dT%H:%M:%SZ) || return 1
  kc -n "$TEAM_NS" patch pod train-0 --subresource=status --type=merge -p "$(
    python3 -c 'import json,sys; t=sys.argv[1]; print(json.dumps({"status": {
        "phase": "Running", "startTime": t,
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "train", "ready": True, "restartCount": 0,
                               "image": "trainer", "imageID": "",
                               "state": {"running": {"startedAt": t}}}]}}))' "$started"
  )" || return 1
}

budget_has_status() {
  [[ -n $(kc get computebudget "$BUDGET" -o jsonpath='{.status.observedGeneration}') ]]
}
pool_has_status() {
  [[ -n $(kc get gpunodepool "$POOL" -o jsonpath='{.status.observedGeneration}') ]]
}
quota_exists() { kc -n "$TEAM_NS" get resourcequota "bursar-$BUDGET"; }
lease_held() { [[ -n $(kc -n "$NS" get lease bursar-operator -o jsonpath='{.spec.holderIdentity}') ]]; }
kwok_node_exists() { kc get node helm-kwok-0; }
job_suspended() { [[ $(kc -n "$TEAM_NS" get job train -o jsonpath='{.spec.suspend}') == true ]]; }
budget_event() {
  [[ -n $(kc -n default get events --field-selector "involvedObject.name=$BUDGET" -o name) ]]
}
job_event() {
  [[ -n $(kc -n "$TEAM_NS" get events --field-selector involvedObject.name=train -o name) ]]
}
address_written() { grep -q '^health=' "$WORK/addresses"; }
# caBundle of both webhook configurations equals ca.crt of the certificate Secret Bursar made.
ca_bundle_filled() {
  local ca
  ca=$(kc -n "$NS" get secret bursar-webhook-tls -o jsonpath='{.data.ca\.crt}') || return 1
  [[ -n $ca ]] &&
    [[ $(kc get mutatingwebhookconfiguration bursar-webhook -o jsonpath='{.webhooks[0].clientConfig.caBundle}') == "$ca" ]] &&
    [[ $(kc get validatingwebhookconfiguration bursar-webhook -o jsonpath='{.webhooks[0].clientConfig.caBundle}') == "$ca" ]]
}
DENIAL='forbidden|"code": ?403|HTTP 403|403 Forbidden'
operator_was_denied() { grep -Eqi "$DENIAL" "$WORK/operator.log" 2>/dev/null; }
operator_exited() { ! kill -0 "$OPERATOR_PID" 2>/dev/null; }
# Some denials are not logged (a failed Event only counts in the metrics): look there too.
metrics_show_denial() {
  local health metrics
  health=$(sed -n 's/^health=//p' "$WORK/addresses" 2>/dev/null)
  [[ -n $health ]] && metrics=$(curl -fsS "http://$health/metrics" 2>/dev/null) &&
    grep -Eq '^bursar_kube_requests_total\{.*code="403"|^bursar_event_recorder_events_total\{result="failed"\} [1-9]' <<<"$metrics"
}
operator_denied_or_exited() { operator_was_denied || metrics_show_denial || operator_exited; }
# The distinct denials in the operator's log, without timestamps.
print_denials() {
  grep -Ei "$DENIAL" "$WORK/operator.log" | sed 's/^{"ts":"[^"]*",//' | sort -u | head -20
}

operator_reconciles_with_chart_rbac() {
  write_sa_kubeconfig || return 1
  apply_budget_fixtures || return 1
  # The settings file the chart rendered and installed; flags override what a test must.
  kc -n "$NS" get configmap bursar-config -o jsonpath='{.data.config\.yaml}' \
    >"$WORK/config.yaml" || return 1
  # The chart mounts its TLS Secret at /etc/bursar/grpc-tls; here a test CA's files stand in.
  make_grpc_tls "$WORK/grpc-tls"
  "$BURSAR" run --config "$WORK/config.yaml" --kubeconfig "$WORK/sa.kubeconfig" --tick 1s \
    --leader-election-namespace "$NS" --id helm-test-0 --health-addr 127.0.0.1:0 \
    --grpc-addr 127.0.0.1:0 --log-format json --address-file "$WORK/addresses" \
    --grpc-tls-cert-file "$WORK/grpc-tls/tls.crt" --grpc-tls-key-file "$WORK/grpc-tls/tls.key" \
    --webhook-cert-dir "$WORK/webhook-tls" >"$WORK/operator.log" 2>&1 &
  OPERATOR_PID=$!
  local ok=1
  GIVE_UP_IF=operator_denied_or_exited
  wait_for "the operator's address file" address_written &&
    wait_for "a Lease holder" lease_held &&
    wait_for "status.observedGeneration on ComputeBudget $BUDGET" budget_has_status &&
    wait_for "status.observedGeneration on GPUNodePool $POOL" pool_has_status &&
    wait_for "ResourceQuota $TEAM_NS/bursar-$BUDGET" quota_exists &&
    wait_for "Node helm-kwok-0 made by the Kwok provider" kwok_node_exists &&
    wait_for "Job $TEAM_NS/train suspended (Drain)" job_suspended &&
    wait_for "an Event on ComputeBudget $BUDGET in default" budget_event &&
    wait_for "an Event on Job $TEAM_NS/train" job_event &&
    wait_for "caBundle of both webhook configurations from Secret bursar-webhook-tls" \
      ca_bundle_filled || ok=0
  GIVE_UP_IF=""
  local health
  health=$(sed -n 's/^health=//p' "$WORK/addresses" 2>/dev/null)
  # Two more passes when all went well, so that steady-state requests (Lease renewals) count.
  if ((ok == 1)); then sleep 2; fi
  [[ -n $health ]] && curl -fsS "http://$health/metrics" >"$WORK/metrics.txt" || ok=0
  kill -TERM "$OPERATOR_PID" 2>/dev/null
  local rc=0 deadline=$((SECONDS + 30))
  while kill -0 "$OPERATOR_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  wait "$OPERATOR_PID" || rc=$?
  OPERATOR_PID=""
  if operator_was_denied; then
    echo "the operator was denied (distinct log lines):"
    print_denials
    return 1
  fi
  if grep -E '^bursar_kube_requests_total\{.*code="403"' "$WORK/metrics.txt"; then
    echo "bursar_kube_requests_total counts 403 answers (above)"
    grep '^bursar_event_recorder_events_total' "$WORK/metrics.txt"
    return 1
  fi
  if ((ok == 0 || rc != 0)); then
    echo "operator exit status $rc; the end of its log:"
    tail -n 20 "$WORK/operator.log"
    return 1
  fi
  # The check above must be able to fail: the counter is there, with successful writes.
  grep -Eq '^bursar_kube_requests_total\{.*verb="PATCH".*code="20[01]"|^bursar_kube_requests_total\{.*code="20[01]".*verb="PATCH"' \
    "$WORK/metrics.txt" || {
    echo "no successful PATCH in bursar_kube_requests_total:"
    grep '^bursar_kube_requests_total' "$WORK/metrics.txt"
    return 1
  }
  if grep -q 'could not release the Lease' "$WORK/operator.log"; then
    grep 'could not release the Lease' "$WORK/operator.log"
    return 1
  fi
  [[ $(kc -n "$TEAM_NS" get resourcequota "bursar-$BUDGET" \
    -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}') == bursar ]] || {
    echo "the ResourceQuota is not labelled managed-by=bursar"
    return 1
  }
  if grep -E '^bursar_event_recorder_events_total\{result="failed"\} [1-9]' "$WORK/metrics.txt"; then
    echo "Events failed to be written (above)"
    return 1
  fi
  # The serving certificate the operator wrote verifies against the caBundle the API server
  # uses, for the webhook Service's name.
  kc get validatingwebhookconfiguration bursar-webhook \
    -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | base64 -d >"$WORK/ca-bundle.pem" || return 1
  openssl verify -CAfile "$WORK/ca-bundle.pem" -verify_hostname "bursar-webhook.$NS.svc" \
    -purpose sslserver "$WORK/webhook-tls/tls.crt" || return 1
  grep '^bursar_kube_requests_total' "$WORK/metrics.txt"
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
  # The webhook certificate: its own Secret and webhook configurations only, by name.
  can_i no update secrets/someone-elses -n "$NS" || bad=1
  can_i no update validatingwebhookconfigurations/someone-elses || bad=1
  can_i no update mutatingwebhookconfigurations/someone-elses || bad=1
  can_i no delete validatingwebhookconfigurations/bursar-webhook || bad=1
  can_i no create validatingwebhookconfigurations || bad=1
  # ...and what it does grant.
  can_i yes patch computebudgets.bursar.dev --subresource=status || bad=1
  can_i yes patch gpunodepools.bursar.dev --subresource=status || bad=1
  can_i yes update leases.coordination.k8s.io/bursar-operator -n "$NS" || bad=1
  can_i yes get secrets -n "$NS" || bad=1
  can_i yes patch jobs.batch -n "$TEAM_NS" || bad=1
  can_i yes update secrets/bursar-webhook-tls -n "$NS" || bad=1
  can_i yes create secrets -n "$NS" || bad=1
  can_i yes update validatingwebhookconfigurations/bursar-webhook || bad=1
  can_i yes update mutatingwebhookconfigurations/bursar-webhook || bad=1
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
  # The chart never sets caBundle: Helm's three-way merge keeps what Bursar wrote.
  ca_bundle_filled || {
    echo "the upgrade dropped caBundle from the webhook configurations"
    return 1
  }
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
check "webhook with cert-manager: Certificate, Issuer, cainjector, no cert RBAC; schema" \
  webhook_cert_manager_renders
check "chart CRDs match crds/ (tests/helm/sync-crds.sh --check; rendered == source)" crds_match_source
check "values.schema.json rejects an unknown key (--set bogus=1, operator.tik)" schema_rejects_unknown_key
check "values.schema.json rejects a wrong type" schema_rejects_wrong_type
check "PrometheusRule passes promtool; dashboard charts exported metrics" \
  alerts_and_dashboard_are_valid
check "helm install into the apiserver, CRDs included and Established" chart_installs
check "every-option render passes server-side validation (dry run, strict)" full_render_is_valid
check "operator with the chart's ServiceAccount token reconciles, fills caBundle, no RBAC denial" \
  operator_reconciles_with_chart_rbac
check "verbs outside the chart's RBAC are denied; granted ones allowed" \
  rbac_denies_what_it_does_not_grant
check "helm upgrade (tick 30s, default PriceBook) succeeds and rolls the config" chart_upgrades
check "helm uninstall (crds.keep=true) leaves the CRDs and budgets in place" \
  uninstall_keeps_crds_and_budgets
check "helm install again adopts the kept CRDs" reinstall_adopts_kept_crds

echo "$passed passed, $failed failed ($((SECONDS - started))s)"
((failed == 0))
