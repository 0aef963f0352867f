#!/usr/bin/env bash
# The real Kueue (sigs.k8s.io/kueue, KUEUE_VERSION in versions.sh) for the tests: its CRDs from
# the Go module cache, and its controller, built once by build.sh, run out of cluster against the
# test control plane with its webhooks served on loopback.
#
# Usage: kueue.sh crds      prints the folder of Kueue's CRDs in the module cache (downloads the
#                           module into GOMODCACHE when it is missing; nothing is copied)
#        kueue.sh start     inside tests/cluster/with-cluster.sh: installs the CRDs and webhook
#                           configurations, starts the controller, waits until it admits
#
# How the apiserver reaches webhooks on loopback: Kueue's certificate rotator (internal cert
# management) signs a serving certificate for kueue-webhook-service.kueue-system.svc and injects
# its CA into the webhook configurations and the CRDs' conversion webhooks. The apiserver checks
# a webhook's certificate against <service>.<namespace>.svc whatever address it dials, and dials
# an ExternalName Service at its externalName: so the Service is an ExternalName for localhost,
# and Kueue's webhook server listens on 127.0.0.1 at the Service's port. Nothing leaves loopback.
# The rotator expects the kubelet to mount its Secret into the cert folder; `start` copies the
# files out of the Secret instead. `start` records the process in the cluster's pids file, so down.sh stops it with the rest; its
# log is logs/kueue.log. It exports nothing: the caller reads BURSAR_TEST_CLUSTER_DIR/kueue.env.
set -euo pipefail
SCRIPT_NAME=cluster/kueue
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TIMEOUT=${BURSAR_CLUSTER_TIMEOUT:-90}
KUEUE_NAMESPACE=kueue-system
WEBHOOK_SERVICE=kueue-webhook-service
# The kinds Kueue v0.17 converts between v1beta1 and v1beta2 (its config/components/crd/patches).
CONVERTED_CRDS=(clusterqueues cohorts localqueues multikueueclusters resourceflavors workloads)

crds_dir() {
  local dir
  dir=$(go_module_dir sigs.k8s.io/kueue "$KUEUE_VERSION")/config/components/crd/bases
  [[ -f $dir/kueue.x-k8s.io_clusterqueues.yaml ]] || die "no Kueue CRDs in $dir"
  echo "$dir"
}

# manifests CRD_DIR WEBHOOK_MANIFESTS PORT — Kueue's CRDs with their conversion webhooks, the
# namespace, the certificate Secret, the ExternalName Service and the webhook configurations for batch/v1 Jobs and
# Kueue's own kinds, named as Kueue's release names them (its cert rotator looks them up by name).
manifests() {
  python3 - "$@" "$KUEUE_NAMESPACE" "$WEBHOOK_SERVICE" "${CONVERTED_CRDS[@]}" <<'EOF'
import glob, os, sys, yaml
crd_dir, webhook_file, port, ns, svc, *converted = sys.argv[1:]
port = int(port)
service = {"namespace": ns, "name": svc, "port": port}
docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        # Empty: the rotator fills it in (and will not create it).
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kueue-webhook-server-cert", "namespace": ns}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": svc, "namespace": ns},
         "spec": {"type": "ExternalName", "externalName": "localhost",
                  "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}}]
for path in sorted(glob.glob(os.path.join(crd_dir, "*.yaml"))):
    crd = yaml.safe_load(open(path))
    if crd["spec"]["names"]["plural"] in converted:
        crd["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {
            "clientConfig": {"service": dict(service, path="/convert")},
            "conversionReviewVersions": ["v1"]}}
    docs.append(crd)
kept_groups = {"batch", "kueue.x-k8s.io"}
for config in yaml.safe_load_all(open(webhook_file)):
    if not config:
        continue
    kind = config["kind"]
    config["metadata"]["name"] = "kueue-" + config["metadata"]["name"]
    hooks = []
    for hook in config["webhooks"]:
        groups = {g for rule in hook["rules"] for g in rule["apiGroups"]}
        if groups <= kept_groups:  # the other integrations are off (their handlers absent)
            hook["clientConfig"]["service"] = dict(service, path=hook["clientConfig"]["service"]["path"])
            hooks.append(hook)
    config["webhooks"] = hooks
    docs.append(config)
yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
EOF
}

start() {
  : "${BURSAR_TEST_CLUSTER_DIR:?run this inside tests/cluster/with-cluster.sh}"
  local dir=$BURSAR_TEST_CLUSTER_DIR crds module ports health_port webhook_port pid why
  "$CLUSTER_SCRIPTS_DIR/build.sh" kueue
  crds=$(crds_dir)
  module=${crds%/config/components/crd/bases}
  read -r health_port webhook_port < <(free_ports 2)
  mkdir -p "$dir/kueue/certs"
  manifests "$crds" "$module/config/components/webhook/manifests.yaml" "$webhook_port" \
    >"$dir/kueue/manifests.yaml"
  kubectl apply --server-side -f "$dir/kueue/manifests.yaml" >"$dir/logs/kueue-install.log" 2>&1 || {
    tail_log "$dir/logs/kueue-install.log"
    die "installing Kueue's CRDs and webhooks failed"
  }
  kubectl wait --for=condition=Established --timeout=60s -f "$crds" >/dev/null ||
    die "Kueue's CRDs were not established"
  # Only batch/v1 Jobs; no leader election; metrics off; the visibility server (an aggregated
  # API binding 0.0.0.0:8082 by default) off; probes and webhooks on loopback.
  cat >"$dir/kueue/config.yaml" <<EOF
apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: $KUEUE_NAMESPACE
health:
  healthProbeBindAddress: 127.0.0.1:$health_port
metrics:
  bindAddress: "0"
webhook:
  host: 127.0.0.1
  port: $webhook_port
  certDir: $dir/kueue/certs
leaderElection:
  leaderElect: false
internalCertManagement:
  enable: true
  webhookServiceName: $WEBHOOK_SERVICE
  webhookSecretName: kueue-webhook-server-cert
integrations:
  frameworks: ["batch/job"]
featureGates:
  VisibilityOnDemand: false
EOF
  setsid "$KUEUE_DIR/kueue" --config="$dir/kueue/config.yaml" --kubeconfig="$KUBECONFIG" \
    </dev/null >"$dir/logs/kueue.log" 2>&1 &
  pid=$!
  printf '%s %d %s\n' kueue "$pid" "$KUEUE_DIR/kueue" >>"$dir/pids"
  # In a cluster the kubelet mounts the Secret the rotator fills into the cert folder, and the
  # rotator waits for the files: here the script copies them out of the Secret.
  why=$(wait_for --every 0.5 --pid "$pid" "Kueue's rotator to fill its certificate Secret" \
    "$TIMEOUT" bash -c "[[ -n \$(kubectl get secret kueue-webhook-server-cert -n $KUEUE_NAMESPACE \
      -o jsonpath='{.data.tls\\.key}') ]]") || {
    log "$why"
    tail_log "$dir/logs/kueue.log"
    die "Kueue did not create its webhook certificate"
  }
  local file
  for file in tls.crt tls.key ca.crt; do
    kubectl get secret kueue-webhook-server-cert -n "$KUEUE_NAMESPACE" \
      -o "jsonpath={.data.${file//./\\.}}" | (umask 077 && base64 -d >"$dir/kueue/certs/$file")
  done
  why=$(wait_for --every 0.5 --pid "$pid" "Kueue's /readyz" "$TIMEOUT" \
    curl --silent --fail --noproxy '*' --max-time 2 "http://127.0.0.1:$health_port/readyz") || {
    log "$why"
    tail_log "$dir/logs/kueue.log"
    die "Kueue did not become ready"
  }
  # Ready once the apiserver gets through to its webhooks: a dry-run ResourceFlavor is defaulted
  # by Kueue's mutating webhook only when the call reaches it.
  why=$(wait_for --every 1 --pid "$pid" "the apiserver to reach Kueue's webhooks" "$TIMEOUT" \
    bash -c 'kubectl create --dry-run=server -o yaml -f - <<<"apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: bursar-webhook-probe}" | grep -q "kueue.x-k8s.io/resource-in-use"') || {
    log "$why"
    tail_log "$dir/logs/kueue.log"
    die "the apiserver cannot reach Kueue's webhooks on 127.0.0.1:$webhook_port"
  }
  printf 'export BURSAR_TEST_KUEUE_PID=%d BURSAR_TEST_KUEUE_WEBHOOK_PORT=%d\n' "$pid" "$webhook_port" \
    >"$dir/kueue.env"
  log "Kueue $KUEUE_VERSION running (pid $pid, webhooks on 127.0.0.1:$webhook_port)"
}

case ${1:-} in
  crds) crds_dir ;;
  start) start ;;
  *) die "usage: kueue.sh crds|start" ;;
esac
