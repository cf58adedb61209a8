package signin

import (
	"html/template"
	"net/http"
)

// page is the plain page of a sign-in that failed or ended: words for the
// person and a way back.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>StreamSpace: {{.Title}}</title>
<link rel="stylesheet" href="/dashboard/style.css"></head>
<body><header><h1>StreamSpace</h1></header><main>
<h2 id="title">{{.Title}}</h2>
<p id="message" role="alert">{{.Message}}</p>
<p><a id="signin" href="/auth/login">Sign in</a></p>
</main></body></html>
`))

func render(w http.ResponseWriter, status int, title, message string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = page.Execute(w, struct{ Title, Message string }{title, message})
}

func (m *Manager) fail(w http.ResponseWriter, r *http.Request, status int, message string) {
	render(w, status, "Sign-in failed", message)
}

// SignedOut is the page a sign-out ends on (GET /auth/signed-out).
func (m *Manager) SignedOut(w http.ResponseWriter, r *http.Request) {
	render(w, http.StatusOK, "Signed out", "You are signed out of StreamSpace.")
}
