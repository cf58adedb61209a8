package bridge

import (
	"embed"
	"io/fs"
	"net/http"
)

// dashboardFiles is the static dashboard: plain HTML and JavaScript, no
// build step. It holds no data; the page reads the feeds with the token the
// user types in (kept in sessionStorage, so it is gone with the tab).
//
//go:embed dashboard
var dashboardFiles embed.FS

var dashboardFS = func() http.FileSystem {
	sub, err := fs.Sub(dashboardFiles, "dashboard")
	if err != nil {
		panic(err)
	}
	return http.FS(sub)
}()

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	setDashboardHeaders(w)
	http.ServeFileFS(w, r, dashboardFiles, "dashboard/index.html")
}

// dashboardAssets serves /dashboard/<file>.
func (s *Server) dashboardAssets(w http.ResponseWriter, r *http.Request) {
	setDashboardHeaders(w)
	http.StripPrefix("/dashboard", http.FileServer(dashboardFS)).ServeHTTP(w, r)
}

func setDashboardHeaders(w http.ResponseWriter) {
	h := w.Header()
	// Scripts only from the bridge itself; connections only to it (ws: and
	// wss: of the same host are covered by 'self' in current browsers).
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: https:; style-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}
