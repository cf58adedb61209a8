package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/klog/v2"
)

// unavailableRetryAfterSeconds is the Retry-After of a 503 while the database
// cannot be reached: a restarted or promoted Postgres takes about that long.
const unavailableRetryAfterSeconds = 1

// Messages an API client sees. They never carry what the database said: a
// pgx error names hosts, ports, users and databases, and a PgError quotes
// server internals. The real error goes to the server's log.
const (
	unavailableMessage    = "the storage database is unavailable; retry later"
	unknownOutcomeMessage = "the connection to the storage database was lost while this write was being committed, " +
		"so its outcome is unknown: read the object to learn whether it was applied"
	internalMessage = "the storage database failed the request; the server log has the details"
)

// errStorageClosed answers requests made after Close.
var errStorageClosed = errors.New("postgres storage is closed")

// unknownOutcomeError is a write whose COMMIT was sent but whose answer was
// lost with the connection: the database may or may not have applied it.
// Nothing may retry such a write blindly.
type unknownOutcomeError struct{ err error }

func (e *unknownOutcomeError) Error() string { return "outcome of commit unknown: " + e.err.Error() }

func (e *unknownOutcomeError) Unwrap() error { return e.err }

// databaseTimeoutError is a database call of the storage itself (not of a
// request) that got no answer within databaseCallTimeout.
type databaseTimeoutError struct{ err error }

func (e *databaseTimeoutError) Error() string {
	return "no answer from the database in time: " + e.err.Error()
}

func (e *databaseTimeoutError) Unwrap() error { return e.err }

// apiError turns an error of this storage into what the apiserver may show a
// client: errors that already are API or storage errors pass unchanged, a
// database that cannot be reached becomes 503 with Retry-After, a write of
// unknown outcome 504, and any other database error a 500 without the
// database's words. op names the request in the server's log.
func apiError(ctx context.Context, err error, op, key string) error {
	if err == nil {
		return nil
	}
	var status apierrors.APIStatus
	var storageErr *storage.StorageError
	if errors.As(err, &status) || errors.As(err, &storageErr) || storage.IsInternalError(err) {
		return err
	}
	var unknown *unknownOutcomeError
	switch {
	case errors.As(err, &unknown):
		databaseErrors.WithLabelValues("unknown_outcome").Inc()
		klog.FromContext(ctx).Error(err, "postgres storage: outcome of a write is unknown", "operation", op, "key", key)
		return newUnknownOutcomeError()
	case isUnavailable(err):
		databaseErrors.WithLabelValues("unavailable").Inc()
		unavailableLog.log(klog.FromContext(ctx), err, op, key)
		return newUnavailableError()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The request ended (the client went away or its timeout passed):
		// the apiserver answers those itself.
		return err
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) && !isDriverError(err) {
		return err // ours (decoding, validation): no database detail in it
	}
	databaseErrors.WithLabelValues("internal").Inc()
	klog.FromContext(ctx).Error(err, "postgres storage: database error", "operation", op, "key", key)
	return apierrors.NewInternalError(errors.New(internalMessage))
}

func newUnavailableError() *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusServiceUnavailable,
		Reason:  metav1.StatusReasonServiceUnavailable,
		Message: unavailableMessage,
		Details: &metav1.StatusDetails{RetryAfterSeconds: unavailableRetryAfterSeconds},
	}}
}

// newUnknownOutcomeError is a 504 Timeout, like an etcd request that timed
// out, without Retry-After: client-go retries any request that has one, and a
// retried create would turn "applied" into a confusing AlreadyExists.
func newUnknownOutcomeError() *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusGatewayTimeout,
		Reason:  metav1.StatusReasonTimeout,
		Message: unknownOutcomeMessage,
	}}
}

// isUnavailable reports whether err means the database could not be reached
// or went away (connection refused, reset or closed, the server shutting
// down, starting up or in recovery, no connection slots, a standby where a
// primary was needed), as opposed to the database refusing one statement.
func isUnavailable(err error) bool {
	var connectErr *pgconn.ConnectError
	var timeoutErr *databaseTimeoutError
	if errors.As(err, &connectErr) || errors.As(err, &timeoutErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return unavailableSQLState(pgErr.Code)
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, errStorageClosed):
		return true
	}
	return false
}

// unavailableSQLState: class 08 (connection exception), 57P01-57P03 (admin or
// crash shutdown, cannot connect now), 53300 (too many connections), 25006
// (read-only transaction: the server is a standby).
func unavailableSQLState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"):
		return true
	case code == "57P01", code == "57P02", code == "57P03", code == "53300", code == "25006":
		return true
	}
	return false
}

// isDriverError reports whether err comes from pgx itself (a protocol or
// connection failure that isUnavailable did not name).
func isDriverError(err error) bool {
	var retryable interface{ SafeToRetry() bool }
	return errors.As(err, &retryable)
}

// commitNotApplied reports whether a failed COMMIT is known not to have been
// applied: only when the server answered it with an error of its own (a
// serialization failure, a deferred constraint). A lost connection or a
// shutdown may come after the commit was done: a backend terminated while it
// waits for a synchronous standby has committed locally. pgx's SafeToRetry
// cannot tell either: when the connection drops while the answer to COMMIT
// is read, it reports "conn closed" as safe to retry, though the COMMIT went out.
func commitNotApplied(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && !isUnavailable(err)
}

// throttledLog logs the first unavailability error of every second and
// counts the others: during an outage every request fails the same way.
type throttledLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

var unavailableLog throttledLog

func (l *throttledLog) log(logger klog.Logger, err error, op, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.last) < time.Second {
		l.suppressed++
		return
	}
	logger.Error(err, "postgres storage: database unavailable", "operation", op, "key", key, "suppressedSinceLastLog", l.suppressed)
	l.last, l.suppressed = time.Now(), 0
}

// sqlStateStaleRead is the SQLSTATE read_is_current raises (migration 00010).
const sqlStateStaleRead = "SS001"

// isStaleRead reports whether a write failed on its read guard.
func isStaleRead(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == sqlStateStaleRead
}
