package connection

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
	"github.com/streamspace/controlplane/pkg/storage/postgres"
)

// StaleLeases finds connections silent since a cutoff (package postgres).
type StaleLeases interface {
	StaleLeases(ctx context.Context, cutoff time.Time, limit int) ([]postgres.Lease, error)
	LeaseCounts(ctx context.Context, cutoff, overdue time.Time, lateGap time.Duration) (postgres.LeaseCount, error)
}

// Reaper removes connections whose heartbeats stopped. It runs in every
// replica of the API server, where the leases are: it finds connections
// whose lease is older than the stale timeout, marks each stale (status.state,
// so the controller tells a reap from a disconnect) and deletes it on the
// condition, checked in the delete's own statement under the lease's row
// lock, that it has still not beaten since the cutoff. A heartbeat that
// races with the reap either commits first (the delete does not happen) or
// finds the connection gone (404); replicas reaping at once delete each
// connection once (the others find it gone).
type Reaper struct {
	leases   StaleLeases
	store    rest.GracefulDeleter
	status   *storebuilder.StatusREST
	timeout  func(context.Context) time.Duration
	pathDown func(context.Context) error
	now      func() time.Time
}

// NewReaper returns a reaper of the connections in store; timeout is the
// stale timeout in force (the platform configuration's, else the flag's).
// pathDown, unless nil, is asked on every pass whether the path viewers'
// heartbeats take to this server is down (an error: kube-apiserver, whose
// aggregator proxies them, does not answer or is not live); while it is,
// nothing is reaped, and afterwards every connection gets a full stale
// timeout, as after an outage of the database.
func NewReaper(leases StaleLeases, store rest.GracefulDeleter, status *storebuilder.StatusREST, timeout func(context.Context) time.Duration, pathDown func(context.Context) error) *Reaper {
	return &Reaper{leases: leases, store: store, status: status, timeout: timeout, pathDown: pathDown, now: time.Now}
}

// reapBatch bounds the connections one pass looks at.
const reapBatch = 500

// Run reaps until ctx ends. Silence counts only from when this replica
// could read the leases and saw the heartbeat path up: after a start, an
// outage of the database or of kube-apiserver, every viewer gets a full
// stale timeout to send its next heartbeat, as viewers could not send them
// while the API was down. A mass silence (see silenceGuard) is treated as
// an outage of the heartbeat path.
func (r *Reaper) Run(ctx context.Context) {
	logger := klog.FromContext(ctx).WithName("connection-reaper")
	guard := silenceGuard{reachableSince: r.now()}
	pathWasDown := false
	for {
		timeout := r.timeout(ctx)
		tick := min(max(timeout/6, 100*time.Millisecond), 5*time.Second)
		select {
		case <-ctx.Done():
			return
		case <-time.After(tick):
		}
		if r.pathDown != nil {
			if err := r.pathDown(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				if !pathWasDown {
					logger.Info("heartbeat path down: not reaping until it is back, then every connection gets a full stale timeout", "err", err.Error())
				}
				pathWasDown = true
				guard.outage()
				setHolding(holdPathDown)
				continue
			}
			if pathWasDown {
				pathWasDown = false
				logger.Info("heartbeat path back: silence counts from now")
			}
		}
		now := r.now()
		cutoff := now.Add(-timeout)
		count, err := r.leases.LeaseCounts(ctx, cutoff, now.Add(-overdueAfter(timeout)), overdueAfter(timeout))
		var leases []postgres.Lease
		if err == nil && count.Stale > 0 {
			leases, err = r.leases.StaleLeases(ctx, cutoff, reapBatch)
		}
		if err != nil {
			if ctx.Err() == nil {
				logger.Error(err, "find stale connections")
			}
			guard.outage()
			setHolding(holdLeasesUnreadable)
			continue
		}
		wasMass, wasSlow := !guard.massSince.IsZero(), guard.slowPath
		allowed := guard.allow(now, cutoff, count, timeout)
		if mass := !guard.massSince.IsZero(); mass != wasMass {
			if mass {
				logger.Info("mass silence: not reaping while the heartbeat path may be stuck", "silent", count.Stale, "overdue", count.Overdue, "late", count.Late, "connections", count.Total)
			} else {
				logger.Info("mass silence over: every connection gets a full stale timeout", "silent", count.Stale, "overdue", count.Overdue, "late", count.Late, "connections", count.Total)
			}
		}
		if guard.slowPath && !wasSlow {
			logger.Info("heartbeats arrive late: the silence is a slow heartbeat path, not departures; holding reaping until it ends",
				"silent", count.Stale, "overdue", count.Overdue, "late", count.Late, "connections", count.Total)
		}
		switch {
		case allowed:
			setHolding("")
		case guard.slowPath:
			setHolding(holdLateBeats)
		case !guard.massSince.IsZero():
			setHolding(holdMassSilence)
		default:
			setHolding(holdGrace)
		}
		if !allowed {
			continue
		}
		for _, l := range leases {
			if err := r.reap(ctx, l, cutoff, timeout); err != nil && ctx.Err() == nil {
				logger.Error(err, "reap stale connection", "connection", klog.KRef(l.Namespace, l.Name))
			}
		}
	}
}

const (
	// massSilenceFraction and massSilenceMin: a pass that finds at least
	// this fraction of all connections overdue (see overdueAfter), and at
	// least this many, sees a mass silence. Viewers leave one by one; many
	// falling silent within one stale timeout means heartbeats are stuck on
	// their way (kube-apiserver or this server overloaded, the network to
	// the bridge down), not that the viewers left.
	massSilenceFraction = 0.1
	massSilenceMin      = 20
	// massSilenceHold is how many stale timeouts a mass silence holds reaping
	// off. A silence that lasts longer is taken as real departures (a bridge
	// gone with its viewers), and its connections are reaped, unless
	// heartbeats keep arriving late (see lateBeatsShow).
	massSilenceHold = 3
	// lateBeatsFraction: in a mass silence, when the connections that beat
	// within the last stale timeout after being overdue (late beats) are at
	// least this fraction of those overdue now, and at least massSilenceMin,
	// the heartbeat path is slow or lossy (an overloaded kube-apiserver
	// answers some beats after a minute and times others out): the viewers
	// are alive, and the hold lasts as long as the late beats do. Viewers who
	// left together never beat again, so their silence has no late beats,
	// and a healthy path has few (a laptop waking up).
	lateBeatsFraction = 0.1
)

// lateBeatsShow says whether the late beats of a pass show a slow heartbeat
// path rather than departures (see lateBeatsFraction).
func lateBeatsShow(c postgres.LeaseCount) bool {
	return c.Late >= massSilenceMin && float64(c.Late) >= lateBeatsFraction*float64(c.Overdue)
}

// overdueAfter is the silence after which a connection counts as overdue
// for the mass-silence guard: three quarters of the stale timeout, so with
// the default 60 s timeout and 30 s heartbeats a viewer 15 s late. Viewers'
// beats are spread over the heartbeat interval, so when the heartbeat path
// stalls the connections cross the stale timeout one after another over
// that interval; counting the overdue, who cross earlier, sees the stall
// before the first of them can be reaped.
func overdueAfter(timeout time.Duration) time.Duration { return timeout * 3 / 4 }

// silenceGuard decides whether a reaper pass may reap. It holds the time
// from which silence counts (reachableSince: a connection is reaped only
// when its cutoff is after it) and the start of a mass silence in progress.
// When a mass silence ends, silence counts from then: every connection gets
// a full stale timeout, as after an outage of the database.
type silenceGuard struct {
	reachableSince time.Time
	massSince      time.Time
	// slowPath: the mass silence in progress has late beats, so its hold
	// is extended pass by pass.
	slowPath bool
	// down: a pass since the last allow could not read the leases or saw
	// the heartbeat path down.
	down bool
}

// outage records a pass that could not read the leases or saw the
// heartbeat path down. Viewers could not beat meanwhile, so the next pass
// that can decide counts silence from its own time: every connection gets a
// full stale timeout, and a mass silence still in progress then is a new
// one with a hold of its own.
func (g *silenceGuard) outage() {
	g.down = true
	g.massSince = time.Time{}
	g.slowPath = false
}

// allow takes the counts of one pass (c.Stale: connections silent since
// cutoff; c.Overdue: silent for overdueAfter; c.Total: all connections) and
// says whether it may reap.
func (g *silenceGuard) allow(now, cutoff time.Time, c postgres.LeaseCount, timeout time.Duration) bool {
	if g.down {
		g.down = false
		g.reachableSince = now
	}
	mass := c.Overdue >= massSilenceMin && float64(c.Overdue) >= massSilenceFraction*float64(c.Total)
	if mass {
		if g.massSince.IsZero() {
			g.massSince = now
		}
		if lateBeatsShow(c) {
			// Viewers are still beating, late: the hold starts again.
			g.slowPath = true
			g.massSince = now
			return false
		}
		if now.Sub(g.massSince) < massSilenceHold*timeout {
			return false
		}
		return !cutoff.Before(g.reachableSince)
	}
	g.slowPath = false
	if !g.massSince.IsZero() {
		g.massSince = time.Time{}
		g.reachableSince = now
	}
	return !cutoff.Before(g.reachableSince)
}

// reap marks one connection stale and deletes it unless it beat since cutoff.
func (r *Reaper) reap(ctx context.Context, l postgres.Lease, cutoff time.Time, timeout time.Duration) error {
	ctx = genericapirequest.WithNamespace(ctx, l.Namespace)
	mark := func(_ context.Context, _, oldObj runtime.Object) (runtime.Object, error) {
		c := oldObj.DeepCopyObject().(*stream.Connection)
		if string(c.UID) != l.UID {
			return nil, apierrors.NewNotFound(stream.Resource("connections"), l.Name)
		}
		c.Status.State = stream.ConnectionStateStale
		return c, nil
	}
	_, _, err := r.status.Update(ctx, l.Name, rest.DefaultUpdatedObjectInfo(nil, mark),
		rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark connection stale: %w", err)
	}
	uid := types.UID(l.UID)
	_, _, err = r.store.Delete(postgres.WithReapCutoff(ctx, cutoff), l.Name, rest.ValidateAllObjectFunc,
		&metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Gone already, or it beat meanwhile: its next heartbeat makes it active again.
		return nil
	case err != nil:
		return err
	}
	reaped.Inc()
	klog.FromContext(ctx).Info("removed stale connection", "connection", klog.KRef(l.Namespace, l.Name),
		"lastHeartbeat", l.LastBeat, "silentFor", r.now().Sub(l.LastBeat).Round(time.Second), "staleTimeout", timeout)
	return nil
}

var reaped = metrics.NewCounter(&metrics.CounterOpts{
	Subsystem:      "streamspace_apiserver",
	Name:           "stale_connections_removed_total",
	Help:           "Connections this replica removed because their heartbeats stopped.",
	StabilityLevel: metrics.ALPHA,
})

// Why a reaper pass did not reap (the reason label of holding).
const (
	holdPathDown         = "heartbeat_path_down"
	holdLeasesUnreadable = "leases_unreadable"
	holdGrace            = "grace_after_outage"
	holdMassSilence      = "mass_silence"
	holdLateBeats        = "late_heartbeats"
)

var holdReasons = []string{holdPathDown, holdLeasesUnreadable, holdGrace, holdMassSilence, holdLateBeats}

var holding = metrics.NewGaugeVec(&metrics.GaugeOpts{
	Subsystem: "streamspace_apiserver",
	Name:      "connection_reaper_holding",
	Help: "1 for the reason this replica's connection reaper did not reap on its last pass, 0 for the others: " +
		"heartbeat_path_down (kube-apiserver does not answer), leases_unreadable (the database), grace_after_outage " +
		"(a stale timeout after a start or an outage), mass_silence, late_heartbeats (a slow heartbeat path). All 0: reaping.",
	StabilityLevel: metrics.ALPHA,
}, []string{"reason"})

// setHolding records the reason the last pass did not reap ("": it reaped).
func setHolding(reason string) {
	for _, r := range holdReasons {
		v := 0.0
		if r == reason {
			v = 1
		}
		holding.WithLabelValues(r).Set(v)
	}
}

func init() { legacyregistry.MustRegister(reaped, holding) }
