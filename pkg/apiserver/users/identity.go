// Package users keeps the User records of the people who call the API
// server: a filter in the handler chain hands each authenticated caller to a
// Recorder, which writes the User through the registry's storage in the
// background; and an authorizer lets each person read their own User.
package users

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// The keys of the user extras that carry what the identity provider's ID
// token says of the person. kube-apiserver's authentication configuration
// maps them from claims (claimMappings.extra, see docs/identity.md) and
// forwards them to this server as X-Remote-Extra- headers.
const (
	// ExtraEmail is the email claim.
	ExtraEmail = "streamspace.io/email"
	// ExtraName is the name claim: the person's display name.
	ExtraName = "streamspace.io/name"
	// ExtraLoginTime is when the person signed in, in seconds since the
	// epoch (the auth_time claim, or iat), or an RFC 3339 time.
	ExtraLoginTime = "streamspace.io/login-time"
)

// DefaultAdminGroup is the group whose members have the admin role.
const DefaultAdminGroup = "streamspace-admins"

// Identity is what one request tells of its caller.
type Identity struct {
	Name        string
	UID         string
	Email       string
	DisplayName string
	// Groups are the caller's groups without system:authenticated, which
	// every authenticated caller has.
	Groups []string
	// LoginTime is when the caller signed in; zero when no extra tells it.
	LoginTime time.Time
}

// IdentityOf reads the identity of an authenticated caller.
func IdentityOf(u user.Info) Identity {
	id := Identity{Name: u.GetName(), UID: u.GetUID()}
	for _, g := range u.GetGroups() {
		if g != user.AllAuthenticated {
			id.Groups = append(id.Groups, g)
		}
	}
	extra := u.GetExtra()
	id.Email = firstExtra(extra, ExtraEmail)
	id.DisplayName = firstExtra(extra, ExtraName)
	id.LoginTime = parseLoginTime(firstExtra(extra, ExtraLoginTime))
	return id
}

func firstExtra(extra map[string][]string, key string) string {
	if v := extra[key]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// parseLoginTime reads seconds since the epoch (a JWT NumericDate, possibly
// with a fraction) or an RFC 3339 time; anything else is unknown (zero).
func parseLoginTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if secs <= 0 {
			return time.Time{}
		}
		return time.Unix(int64(secs), 0).UTC()
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	return time.Time{}
}

// Role is admin for members of adminGroup, user otherwise.
func Role(groups []string, adminGroup string) stream.UserRole {
	if adminGroup != "" && slices.Contains(groups, adminGroup) {
		return stream.UserRoleAdmin
	}
	return stream.UserRoleUser
}

// Recorded tells whether a caller gets a User, and if not why: identities
// under system: are the control plane's own (kube-apiserver's loopback
// system:apiserver, kube-controller-manager, nodes, the controllers and every
// other ServiceAccount as system:serviceaccount:<ns>:<name>, and
// system:anonymous), not people; a name that cannot be an object name
// (empty, with '/' or '%', "." or "..") cannot be recorded.
func Recorded(u user.Info) (bool, string) {
	name := u.GetName()
	switch {
	case name == "":
		return false, "no username"
	case strings.HasPrefix(name, "system:"):
		return false, "system identity"
	case name == "." || name == ".." || strings.ContainsAny(name, "/%\x00\n\r\t") || len(name) > 253:
		return false, "username is not a valid object name"
	}
	return true, ""
}

// changed tells whether the User recorded as last needs a new write for a
// request of id at now: the identity is new to the recorder, its uid, email,
// display name, groups or sign-in time changed, or its last-seen time is
// interval old or older.
func changed(last *record, id Identity, now time.Time, interval time.Duration) bool {
	if last == nil {
		return true
	}
	if last.id.UID != id.UID || last.id.Email != id.Email || last.id.DisplayName != id.DisplayName ||
		!slices.Equal(last.id.Groups, id.Groups) || !last.id.LoginTime.Equal(id.LoginTime) {
		return true
	}
	return now.Sub(last.seen) >= interval
}

// record is what the recorder last wrote (or queued) for one identity.
type record struct {
	id   Identity
	seen time.Time
}
