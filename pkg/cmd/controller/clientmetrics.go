package controller

// client-go reports into component-base's registry, served on /metrics:
// leader_election_master_status{name} (1 on the replica holding the Lease,
// 0 on a standby), the workqueue_* series of every controller's queue (a
// standby has none: it builds no controllers until it leads), and the
// rest_client_* series of the clients: requests by code and method, their
// latency, and rest_client_rate_limiter_duration_seconds, the time requests
// waited for the client-side rate limiter (--kube-api-qps), which is where
// a burst of reconciles queues when that limit, not the API servers, is
// the bound.
import (
	_ "k8s.io/component-base/metrics/prometheus/clientgo/leaderelection"
	_ "k8s.io/component-base/metrics/prometheus/restclient"
	_ "k8s.io/component-base/metrics/prometheus/workqueue"
)
