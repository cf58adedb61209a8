package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// round is one side's measurement in its own namespace.
type round struct {
	n                     int
	ours                  bool
	namespace             string
	began                 time.Time
	took                  time.Duration
	loadBefore, loadAfter string
	results
}

// roundOrder is the sides of the rounds (true: ours), alternating so that
// neither side always runs first or on a warmer machine: CRD, ours, ours,
// CRD, CRD, ours, … with rounds rounds per side.
func roundOrder(rounds int) []bool {
	var order []bool
	for i := range rounds {
		pair := []bool{false, true}
		if i%2 == 1 {
			pair = []bool{true, false}
		}
		order = append(order, pair...)
	}
	return order
}

// removeRound deletes a round's objects and waits until none is left, so
// that the next round starts without them; then its namespace goes.
func removeRound(ctx context.Context, kube kubernetes.Interface, t *target, namespace string) error {
	start := time.Now()
	// One DeleteCollection of 50,000 objects outlasts kube-apiserver's
	// request timeout (60 s), which cuts it off part way; each call
	// deletes what it can, and the next one carries on until none is left.
	calls := 0
	err := wait.PollUntilContextTimeout(ctx, time.Second, 20*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := t.client.List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			logf("%s: list while deleting: %v (retrying)", namespace, err)
			return false, nil
		}
		if len(list.Items) == 0 {
			return true, nil
		}
		calls++
		if err := t.client.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			logf("%s: delete collection (call %d): %v (continuing)", namespace, calls, err)
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the objects of %s to be gone: %w", namespace, err)
	}
	if err := kube.CoreV1().Namespaces().Delete(ctx, namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", namespace, err)
	}
	logf("%s: objects gone in %s", namespace, time.Since(start).Round(time.Second))
	return nil
}

// spread is the median, the minimum and the maximum of values.
func spread(values []float64) (median, lo, hi float64) {
	if len(values) == 0 {
		return 0, 0, 0
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	mid := len(sorted) / 2
	median = sorted[mid]
	if len(sorted)%2 == 0 {
		median = (sorted[mid-1] + sorted[mid]) / 2
	}
	return median, sorted[0], sorted[len(sorted)-1]
}
