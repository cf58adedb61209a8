package shares

import (
	"context"
	"fmt"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// Grantee is the person sessions may be shared with: their user name and
// groups as kube-apiserver answered the review of their token, and a
// client that acts with that token.
type Grantee struct {
	User   string
	Groups []string
	Client clientset.Interface
}

// Grant is what the shares of one session give a grantee, as the grantee
// read them.
type Grant struct {
	// Role is the strongest role of the shares (control over view).
	Role streamv1alpha1.ShareRole
	// Owner is the session's user, who shared it.
	Owner string
	// Until is the earliest expiry among the shares, when one has an
	// expiry: the grant is worth looking at again then.
	Until *time.Time
}

// Verify reads candidates, shares of one session that the Index says name
// the grantee, with the grantee's own client, and returns the grant of
// those the grantee may read that name them and are in force at now. ok is
// false when none does: the session is not (or no longer) shared with
// them, or the access a new share grants is not in place yet. Refusals and
// absences are answers; other errors are returned.
func Verify(ctx context.Context, g Grantee, candidates []*streamv1alpha1.SessionShare, now time.Time) (grant Grant, ok bool, err error) {
	for _, candidate := range candidates {
		s, err := g.Client.StreamV1alpha1().SessionShares(candidate.Namespace).Get(ctx, candidate.Name, metav1.GetOptions{})
		if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return Grant{}, false, fmt.Errorf("read share %s/%s: %w", candidate.Namespace, candidate.Name, err)
		}
		if s.Spec.Session != candidate.Spec.Session || !stream.ShareInForce(s.DeletionTimestamp, s.Spec.ExpiresAt, now) ||
			!stream.ShareNames(s.Spec.User, s.Spec.Group, g.User, g.Groups) {
			continue
		}
		if !ok || stream.ShareRoleOutranks(string(s.Spec.Role), string(grant.Role)) {
			grant.Role = s.Spec.Role
		}
		if grant.Owner == "" {
			grant.Owner = s.Status.Owner
		}
		if exp := s.Spec.ExpiresAt; exp != nil && (grant.Until == nil || exp.Time.Before(*grant.Until)) {
			until := exp.Time
			grant.Until = &until
		}
		ok = true
	}
	return grant, ok, nil
}

// Shared is a session shared with the grantee, as the grantee read it.
type Shared struct {
	Session *streamv1alpha1.Session
	Grant   Grant
}

// List returns the sessions shared with the grantee, in namespace and name
// order: for each session the Index has shares of, the grant (Verify) and
// the session, both read with the grantee's client. A session the grantee
// may not read, or that is gone, is left out.
func List(ctx context.Context, index *Index, g Grantee) ([]Shared, error) {
	bySession := map[string][]*streamv1alpha1.SessionShare{}
	for _, s := range index.Naming(g.User, g.Groups, metav1.NamespaceAll) {
		key := s.Namespace + "/" + s.Spec.Session
		bySession[key] = append(bySession[key], s)
	}
	if len(bySession) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(bySession))
	for key := range bySession {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	now := index.now()
	var shared []Shared
	for _, key := range keys {
		candidates := bySession[key]
		grant, ok, err := Verify(ctx, g, candidates, now)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		namespace, name := candidates[0].Namespace, candidates[0].Spec.Session
		session, err := g.Client.StreamV1alpha1().Sessions(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read shared session %s: %w", key, err)
		}
		shared = append(shared, Shared{Session: session, Grant: grant})
	}
	return shared, nil
}

// ForSession is the grant of the shares of session namespace/name to the
// grantee (Verify), or ok false when it is not shared with them.
func ForSession(ctx context.Context, index *Index, g Grantee, namespace, name string) (Grant, bool, error) {
	candidates := index.OfSession(namespace, name, g.User, g.Groups)
	if len(candidates) == 0 {
		return Grant{}, false, nil
	}
	return Verify(ctx, g, candidates, index.now())
}

// GranteeOf is the caller of a bridge request as a grantee.
func GranteeOf(c *identity.Caller) Grantee {
	return Grantee{User: c.Username(), Groups: c.Groups(), Client: c.Stream()}
}
