# shellcheck shell=bash
# shellcheck disable=SC2034  # the names are used by the scripts that source this file
# The chart's full reconcile, shared by tests/helm/helm-test.sh (the host's build/bursar) and
# tests/image/image-test.sh (the operator image's root filesystem): install the chart, a token of
# its ServiceAccount, a budget already over its limit, then wait until the operator has taken
# every write path the chart's RBAC must allow, with no denial. Sourced, never run.
#
# The sourcing script sets REPO, WORK (a scratch folder), KUBECTL, TIMEOUT and OPERATOR_PID="",
# defines kc (kubectl) and helm, sources tests/cluster/lib.sh (make_grpc_tls), and defines
# start_operator: it starts the operator in the background with the settings in
# $WORK/config.yaml, the ServiceAccount's credentials (write_sa_kubeconfig), the gRPC TLS files
# in $WORK/grpc-tls, its log in $WORK/operator.log and its addresses in $ADDRESS_FILE, and sets
# OPERATOR_PID (what to wait for) and, when SIGTERM must go to another process than that one,
# OPERATOR_SIGNAL_PID.

CHART=$REPO/helm/bursar
NS=bursar-system
RELEASE=bursar
SA=system:serviceaccount:$NS:bursar # the release name contains "bursar": names are "bursar"
TEAM_NS=helm-team
BUDGET=helm-budget
POOL=helm-kwok-pool
ADDRESS_FILE=${ADDRESS_FILE:-$WORK/addresses}

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

# RECONCILE_WEBHOOK=true (helm-test.sh): install with the admission webhook on; the operator
# then makes the webhook certificate with the chart's RBAC and must fill caBundle. The pods never
# run, so the webhooks fail open (no endpoints) for the creates that follow.
chart_installs() {
  # integrations.kwok: the reconcile below uses a Kwok GPUNodePool (the operator creates Nodes).
  helm install "$RELEASE" "$CHART" -n "$NS" --create-namespace \
    --set integrations.kwok=true --set "webhook.enabled=${RECONCILE_WEBHOOK:-false}" || return 1
  if [[ ${RECONCILE_WEBHOOK:-false} == true ]]; then
    kc get mutatingwebhookconfiguration/bursar-webhook \
      validatingwebhookconfiguration/bursar-webhook || return 1
    kc -n "$NS" get service/bursar-webhook || return 1
  fi
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

# A kubeconfig for the chart's ServiceAccount: a TokenRequest token, the server and CA of
# $KUBECONFIG. The same token, CA and namespace also go to $WORK/serviceaccount/ as the kubelet
# projects them into a pod (token, ca.crt, namespace), with the server in $WORK/sa.server.
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
  mkdir -p "$WORK/serviceaccount"
  printf '%s' "$token" >"$WORK/serviceaccount/token"
  base64 -d <<<"$ca" >"$WORK/serviceaccount/ca.crt" || return 1
  printf '%s' "$NS" >"$WORK/serviceaccount/namespace"
  printf '%s\n' "$server" >"$WORK/sa.server"
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
      terminationGracePeriodSeconds: 1
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
  terminationGracePeriodSeconds: 1
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
address_written() { grep -q '^health=' "$ADDRESS_FILE"; }
DENIAL='forbidden|"code": ?403|HTTP 403|403 Forbidden'
operator_was_denied() { grep -Eqi "$DENIAL" "$WORK/operator.log" 2>/dev/null; }
operator_exited() { ! kill -0 "$OPERATOR_PID" 2>/dev/null; }
# Some denials are not logged (a failed Event only counts in the metrics): look there too.
metrics_show_denial() {
  local health metrics
  health=$(sed -n 's/^health=//p' "$ADDRESS_FILE" 2>/dev/null)
  [[ -n $health ]] && metrics=$(curl -fsS "http://$health/metrics" 2>/dev/null) &&
    grep -Eq '^bursar_kube_requests_total\{.*code="403"|^bursar_event_recorder_events_total\{result="failed"\} [1-9]' <<<"$metrics"
}
operator_denied_or_exited() { operator_was_denied || metrics_show_denial || operator_exited; }
# The distinct denials in the operator's log, without timestamps.
print_denials() {
  grep -Ei "$DENIAL" "$WORK/operator.log" | sed 's/^{"ts":"[^"]*",//' | sort -u | head -20
}

# caBundle of both webhook configurations equals ca.crt of the certificate Secret Bursar made.
ca_bundle_filled() {
  local ca
  ca=$(kc -n "$NS" get secret bursar-webhook-tls -o jsonpath='{.data.ca\.crt}') || return 1
  [[ -n $ca ]] &&
    [[ $(kc get mutatingwebhookconfiguration bursar-webhook -o jsonpath='{.webhooks[0].clientConfig.caBundle}') == "$ca" ]] &&
    [[ $(kc get validatingwebhookconfiguration bursar-webhook -o jsonpath='{.webhooks[0].clientConfig.caBundle}') == "$ca" ]]
}

operator_reconciles_with_chart_rbac() {
  write_sa_kubeconfig || return 1
  apply_budget_fixtures || return 1
  # The settings file the chart rendered and installed; flags override what a test must.
  kc -n "$NS" get configmap bursar-config -o jsonpath='{.data.config\.yaml}' \
    >"$WORK/config.yaml" || return 1
  # The chart mounts its TLS Secret at /etc/bursar/grpc-tls; here a test CA's files stand in.
  make_grpc_tls "$WORK/grpc-tls"
  start_operator || return 1
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
    wait_for "an Event on Job $TEAM_NS/train" job_event || ok=0
  if [[ ${RECONCILE_WEBHOOK:-false} == true ]] && ((ok == 1)); then
    wait_for "caBundle of both webhook configurations from Secret bursar-webhook-tls" \
      ca_bundle_filled || ok=0
  fi
  GIVE_UP_IF=""
  local health
  health=$(sed -n 's/^health=//p' "$ADDRESS_FILE" 2>/dev/null)
  # Two more passes when all went well, so that steady-state requests (Lease renewals) count.
  if ((ok == 1)); then sleep 2; fi
  [[ -n $health ]] && curl -fsS "http://$health/metrics" >"$WORK/metrics.txt" || ok=0
  kill -TERM "${OPERATOR_SIGNAL_PID:-$OPERATOR_PID}" 2>/dev/null
  local rc=0 deadline=$((SECONDS + 30))
  while kill -0 "$OPERATOR_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  wait "$OPERATOR_PID" || rc=$?
  OPERATOR_PID="" OPERATOR_SIGNAL_PID=""
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
  if [[ ${RECONCILE_WEBHOOK:-false} == true ]]; then
    # The serving certificate the operator wrote verifies against the caBundle the API server
    # uses, for the webhook Service's name.
    kc get validatingwebhookconfiguration bursar-webhook \
      -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | base64 -d >"$WORK/ca-bundle.pem" ||
      return 1
    openssl verify -CAfile "$WORK/ca-bundle.pem" -verify_hostname "bursar-webhook.$NS.svc" \
      -purpose sslserver "$WORK/webhook-tls/tls.crt" || return 1
  fi
  grep '^bursar_kube_requests_total' "$WORK/metrics.txt"
}
