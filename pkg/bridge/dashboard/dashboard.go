// Package dashboard serves the bridge's static page at / and its assets
// under /dashboard/.
package dashboard

import (
	"embed"
	"net/http"
)

// files are the static dashboard: plain HTML and JavaScript, no
// build step. It holds no data; the page reads the feeds with the token the
// user types in (kept in sessionStorage, so it is gone with the tab).
//
//go:embed index.html app.js style.css
var files embed.FS

// Index serves the page (GET /).
func Index(w http.ResponseWriter, r *http.Request) {
	setHeaders(w)
	http.ServeFileFS(w, r, files, "index.html")
}

// Assets serves /dashboard/<file>.
func Assets(w http.ResponseWriter, r *http.Request) {
	setHeaders(w)
	http.StripPrefix("/dashboard", http.FileServerFS(files)).ServeHTTP(w, r)
}

func setHeaders(w http.ResponseWriter) {
	h := w.Header()
	// Scripts only from the bridge itself; connections only to it (ws: and
	// wss: of the same host are covered by 'self' in current browsers).
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: https:; style-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	// Same-origin: the bridge's own endpoints see where a request came
	// from (its Origin), other sites see nothing.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-cache")
}
