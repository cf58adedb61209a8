package signin

import (
	"fmt"
	"testing"
	"time"
)

func TestReturnToStaysOnTheBridgeOrTheCookieDomain(t *testing.T) {
	m := &Manager{cfg: Config{PublicURL: "https://streamspace.example.org", CookieDomain: "sessions.example.org"}, secure: true}
	cases := map[string]string{
		"":                          "/",
		"/":                         "/",
		"/token?x=1":                "/token?x=1",
		"//evil.example.com/":       "/",
		"/\\evil.example.com":       "/",
		"https://evil.example.com/": "/",
		"javascript:alert(1)":       "/",
		"https://streamspace.example.org/dashboard/":          "https://streamspace.example.org/dashboard/",
		"https://firefox-alice.sessions.example.org/":         "https://firefox-alice.sessions.example.org/",
		"http://firefox-alice.sessions.example.org/":          "/", // https bridge: no downgrade
		"https://user:pw@firefox-alice.sessions.example.org/": "/",
		"https://sessions.example.org.evil.com/":              "/",
		"https://evilsessions.example.org/":                   "/",
	}
	for rd, want := range cases {
		if got := m.returnTo(rd); got != want {
			t.Errorf("returnTo(%q) = %q, want %q", rd, got, want)
		}
	}
}

func TestStoreIsBoundedAndForgetsEndedSignIns(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newStore(3)
	for i := 0; i < 5; i++ {
		s.put(fmt.Sprint("handle-", i), &signIn{ends: now.Add(time.Hour)})
	}
	if s.len() != 3 {
		t.Fatalf("the store holds %d sign-ins, want its bound 3", s.len())
	}
	if s.get("handle-0", now) != nil || s.get("handle-4", now) == nil {
		t.Error("the store did not drop the least recently used sign-in first")
	}
	s.put("ending", &signIn{ends: now.Add(time.Minute)})
	if s.get("ending", now.Add(time.Minute)) != nil {
		t.Error("a sign-in past its end is still served")
	}
	if s.remove("handle-4") == nil || s.get("handle-4", now) != nil {
		t.Error("a removed sign-in is still served")
	}
	for key := range s.items {
		if key == "handle-3" {
			t.Error("the store keys sign-ins by their handle, not its hash")
		}
	}
}

func TestPendingLoginsAreOneUseAndExpire(t *testing.T) {
	now := time.Unix(1000, 0)
	p := newPendingLogins(2)
	p.put("a", pendingLogin{verifier: "va", expires: now.Add(time.Minute)})
	if _, ok := p.take("a", now); !ok {
		t.Fatal("a pending login was not found")
	}
	if _, ok := p.take("a", now); ok {
		t.Error("a pending login was usable twice")
	}
	p.put("b", pendingLogin{expires: now.Add(time.Minute)})
	if _, ok := p.take("b", now.Add(2*time.Minute)); ok {
		t.Error("an expired pending login was accepted")
	}
	p.put("c", pendingLogin{expires: now.Add(time.Minute)})
	p.put("d", pendingLogin{expires: now.Add(time.Minute)})
	p.put("e", pendingLogin{expires: now.Add(time.Minute)})
	if _, ok := p.take("c", now); ok {
		t.Error("pending logins are not bounded")
	}
}

func TestNewRefusesCookiesOverPlainHTTPOffLoopback(t *testing.T) {
	base := Config{IssuerURL: "https://idp.example.org", ClientID: "c", ClientSecret: "s"}
	for url, ok := range map[string]bool{
		"https://streamspace.example.org":     true,
		"http://127.0.0.1:8080":               true,
		"http://streamspace.example.org":      false,
		"https://streamspace.example.org/sub": false,
		"ftp://x":                             false,
	} {
		cfg := base
		cfg.PublicURL = url
		_, err := New(cfg)
		if (err == nil) != ok {
			t.Errorf("New with public URL %s: err = %v, want ok=%v", url, err, ok)
		}
	}
}
