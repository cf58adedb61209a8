// Package giturl reads Git clone URLs: the normal form webhooks match
// repositories by, and the redacted form that may be shown anywhere. It
// depends on nothing but the standard library, so the API's validation, the
// webhook and the Git client share it.
package giturl

import (
	"net/url"
	"regexp"
	"strings"
)

var scpLike = regexp.MustCompile(`^(?:[^@/\s]+@)?([^:/\s]+):(.+)$`)

// Normalize reduces a clone URL to "host/path" so that the forms a Git
// host uses for one repository compare equal: https://GitHub.com/Org/Repo.git,
// ssh://git@github.com:22/org/repo and git@github.com:org/repo all give
// "github.com/org/repo". User, port, scheme, a trailing ".git" or "/" and
// case are dropped: a false match only costs a sync. "" when raw is not a URL.
func Normalize(raw string) string {
	raw = strings.TrimSpace(raw)
	var host, p string
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return ""
		}
		host, p = u.Hostname(), u.Path
	} else if m := scpLike.FindStringSubmatch(raw); m != nil {
		host, p = m[1], m[2]
	} else {
		return ""
	}
	p = strings.Trim(p, "/")
	p = strings.TrimSuffix(p, ".git")
	p = strings.Trim(p, "/")
	if host == "" || p == "" {
		return ""
	}
	return strings.ToLower(host + "/" + p)
}

// Unparseable stands for a URL that cannot be shown safely.
const Unparseable = "<unparseable URL>"

// Redact is the form of a clone URL fit for status, Events, logs and
// errors: user information is dropped (an SSH user name such as git@ is
// kept, it is not a secret), and so are the query and the fragment, which
// some hosts use for tokens. A URL that does not parse is never echoed.
func Redact(raw string) string {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "://") {
		if m := scpLike.FindStringSubmatch(raw); m != nil && !strings.ContainsAny(raw, "?#") {
			return raw
		}
		return Unparseable
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return Unparseable
	}
	if u.User != nil {
		if u.Scheme == "ssh" && u.User.Username() != "" {
			u.User = url.User(u.User.Username())
		} else {
			u.User = nil
		}
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return u.String()
}

// SameHost reports whether two http(s) URLs name the same host and port,
// the origin credentials configured for one may be sent to.
func SameHost(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}
