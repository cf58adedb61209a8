package gitcatalog

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/streamspace/controlplane/pkg/gitcatalog/giturl"
)

// maxRedirects bounds a chain of same-host redirects.
const maxRedirects = 5

// refuseCrossHostRedirect is the CheckRedirect of every Git HTTP request:
// a redirect may move a repository within its host (a renamed path), never
// to another host or port, nor from https to http. Credentials are
// configured for one host; go-git follows redirects and would otherwise take
// the request, and whatever it carries, wherever the first host points.
func refuseCrossHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	if len(via) > maxRedirects {
		return fmt.Errorf("refused redirect: more than %d redirects", maxRedirects)
	}
	origin := via[0].URL
	if !giturl.SameHost(origin, req.URL) {
		return fmt.Errorf("refused redirect from %s to another host (%s): credentials and requests stay with the host in spec.url", origin.Host, req.URL.Host)
	}
	if origin.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refused redirect from https to %s", req.URL.Scheme)
	}
	return nil
}

var installHTTPTransport sync.Once

// useRedirectCheckingTransport makes go-git's http and https protocols use a
// client that applies refuseCrossHostRedirect. go-git keeps its transports in
// a process-wide table, so this is done once for the process.
func useRedirectCheckingTransport() {
	installHTTPTransport.Do(func() {
		transport := githttp.NewClientWithOptions(&http.Client{
			Transport:     http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: refuseCrossHostRedirect,
		}, nil)
		client.InstallProtocol("https", transport)
		client.InstallProtocol("http", transport)
	})
}
