package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/streamspace/controlplane/internal/procstat"
)

// attackResult is what the bridge went through while requests with made-up
// tokens came in, and the feed latency meanwhile.
type attackResult struct {
	requests          int
	statuses          map[int]int
	duration          time.Duration
	rssBefore         int64 // bytes
	rssAfter, rssPeak int64
	all, last         []time.Duration
	created           []string
	sources           int
	concurrency       int
}

// runAttack sends o.attack requests with distinct made-up tokens to the
// bridge from o.attackSources loopback addresses and, meanwhile, times the
// writes again with timed (repeatedly, until the attack is over); it reads
// the bridge's RSS before and after.
func runAttack(ctx context.Context, bridgeURL string, pid int, o *options, timed func() ([]time.Duration, []time.Duration, []string, error)) (*attackResult, error) {
	r := &attackResult{requests: o.attack, statuses: map[int]int{}, sources: o.attackSources, concurrency: o.attackConcurrency}
	var err error
	if r.rssBefore, _, err = procstat.Memory(pid); err != nil {
		return nil, err
	}
	clients := make([]*http.Client, o.attackSources)
	for i := range clients {
		local := &net.TCPAddr{IP: net.IPv4(127, 0, byte((i+2)>>8), byte((i+2)&0xff))}
		dialer := &net.Dialer{LocalAddr: local, Timeout: 10 * time.Second}
		clients[i] = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: o.attackConcurrency}}
	}
	work := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range o.attackConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 24)
			for i := range work {
				_, _ = rand.Read(buf)
				status := madeUpRequest(ctx, clients[i%len(clients)], bridgeURL, hex.EncodeToString(buf))
				mu.Lock()
				r.statuses[status]++
				mu.Unlock()
			}
		}()
	}
	attackDone := make(chan struct{})
	go func() {
		defer close(attackDone)
		for i := range o.attack {
			select {
			case work <- i:
			case <-ctx.Done():
				close(work)
				return
			}
		}
		close(work)
	}()
	// The writes are timed again and again until the attack is over.
	var timedErr error
	for timedErr == nil {
		all, last, created, err := timed()
		r.all, r.last, r.created, timedErr = append(r.all, all...), append(r.last, last...), append(r.created, created...), err
		select {
		case <-attackDone:
		default:
			continue
		}
		break
	}
	<-attackDone
	wg.Wait()
	r.duration = time.Since(start)
	if timedErr != nil {
		return nil, timedErr
	}
	if r.rssAfter, r.rssPeak, err = procstat.Memory(pid); err != nil {
		return nil, err
	}
	return r, nil
}

// madeUpRequest is one GET /api/v1/sessions with a token nobody issued; its
// status, 0 when the request failed.
func madeUpRequest(ctx context.Context, client *http.Client, bridgeURL, token string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, bridgeURL+"/api/v1/sessions", nil)
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (a *attackResult) markdown(b *strings.Builder, clients int) {
	fmt.Fprintln(b)
	fmt.Fprintf(b, "### The same writes during %d requests with made-up tokens\n", a.requests)
	fmt.Fprintln(b)
	fmt.Fprintln(b, "While the writes were timed again (in rounds, until the attack was over), `GET /api/v1/sessions` with a")
	fmt.Fprintf(b, "distinct random bearer token per request came in, %d at a time, from %d loopback addresses (so that not\n", a.concurrency, a.sources)
	fmt.Fprintln(b, "only the per-IP limit answers). Each token is reviewed once by kube-apiserver (a SelfSubjectReview made with")
	fmt.Fprintln(b, "it) and nothing of it is kept but its hash, in a bounded cache of refusals.")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "| figure | value |")
	fmt.Fprintln(b, "|---|---|")
	fmt.Fprintf(b, "| answers | %s in %s (%.0f/s) |\n", statusSummary(a.statuses), a.duration.Round(time.Millisecond), float64(a.requests)/a.duration.Seconds())
	fmt.Fprintf(b, "| bridge RSS before → after (peak) | %s → %s (%s) |\n", mib(a.rssBefore), mib(a.rssAfter), mib(a.rssPeak))
	fmt.Fprintf(b, "| write → delivery, every client, during the attack (%d deliveries) | p50 %s, p99 %s, max %s |\n", len(a.all), ms(percentile(a.all, .5)), ms(percentile(a.all, .99)), ms(percentile(a.all, 1)))
	fmt.Fprintf(b, "| write → delivery on the last of its %d clients, during the attack | p50 %s, p99 %s, max %s |\n", clients/2, ms(percentile(a.last, .5)), ms(percentile(a.last, .99)), ms(percentile(a.last, 1)))
}

func statusSummary(statuses map[int]int) string {
	var parts []string
	for _, code := range []int{401, 429, 0} {
		if n := statuses[code]; n > 0 {
			name := strconv.Itoa(code)
			if code == 0 {
				name = "failed"
			}
			parts = append(parts, fmt.Sprintf("%d × %s", n, name))
		}
	}
	for code, n := range statuses {
		if code != 401 && code != 429 && code != 0 {
			parts = append(parts, fmt.Sprintf("%d × %d", n, code))
		}
	}
	return strings.Join(parts, ", ")
}
