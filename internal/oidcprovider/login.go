package oidcprovider

import (
	"context"
	"html/template"
	"net/http"

	"k8s.io/klog/v2"
)

var loginTemplate = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in to StreamSpace (dev)</title></head>
<body>
<h1>Sign in</h1>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="login">
  <input type="hidden" name="authRequestID" value="{{.ID}}">
  <p><label>Username <input name="username" autocomplete="username" autofocus required></label></p>
  <p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
  <p><button type="submit">Sign in</button></p>
</form>
</body>
</html>
`))

// loginPage asks for a username and password. GET shows the form for the
// authorization request in authRequestID; POST checks the credentials and
// sends the browser back to the provider's callback, which redirects to
// the client with a code. A wrong password shows the form again with 401.
type loginPage struct {
	storage  *storage
	callback func(ctx context.Context, authRequestID string) string
}

func (l *loginPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	if err := r.ParseForm(); err != nil {
		http.Error(w, "cannot parse the form", http.StatusBadRequest)
		return
	}
	id := r.FormValue("authRequestID")
	switch r.Method {
	case http.MethodGet:
		l.render(w, http.StatusOK, id, "")
	case http.MethodPost:
		username := r.PostFormValue("username")
		if err := l.storage.checkPassword(id, username, r.PostFormValue("password")); err != nil {
			klog.FromContext(r.Context()).V(2).Info("sign-in refused", "username", username, "err", err)
			l.render(w, http.StatusUnauthorized, id, err.Error())
			return
		}
		http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (l *loginPage) render(w http.ResponseWriter, status int, id, errMsg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = loginTemplate.Execute(w, struct{ ID, Error string }{id, errMsg})
}
