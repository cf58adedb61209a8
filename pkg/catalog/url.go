package catalog

import (
	"net/url"
	"regexp"
	"strings"
)

var scpLike = regexp.MustCompile(`^(?:[^@/\s]+@)?([^:/\s]+):(.+)$`)

// NormalizeURL reduces a clone URL to "host/path" so that the forms a Git
// host uses for one repository compare equal: https://GitHub.com/Org/Repo.git,
// ssh://git@github.com:22/org/repo and git@github.com:org/repo all give
// "github.com/org/repo". User, port, scheme, a trailing ".git" or "/" and
// case are dropped: a false match only costs a sync. "" when raw is not a URL.
func NormalizeURL(raw string) string {
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
