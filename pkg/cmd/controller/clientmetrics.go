package controller

// client-go reports into component-base's registry, served on /metrics:
// leader_election_master_status{name} (1 on the replica holding the Lease,
// 0 on a standby) and the workqueue_* series of every controller's queue
// (a standby has none: it builds no controllers until it leads).
import (
	_ "k8s.io/component-base/metrics/prometheus/clientgo/leaderelection"
	_ "k8s.io/component-base/metrics/prometheus/workqueue"
)
