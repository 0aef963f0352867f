#!/usr/bin/env bash
# Scenario 12 — the fault campaign's short version (about 3 minutes): tests/faults/campaign.sh
# --short, i.e. two replicas behind TCP fault proxies through latency, connection resets,
# refused connections, a half-open leader that loses its Lease during its writes, stalled watch
# streams and slow bodies, then 4 SIGKILLs of leader and follower, and last a 20 s outage at a
# capped budget's Drain line (it must still end within its limit); after each the ledger must
# equal the pods' spend within one tick. The whole campaign (also kube-apiserver and etcd
# restarts, 100 kills) is `make test-faults`.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-12-faults-short.sh
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../faults/campaign.sh" --short "$@"
