package identity

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIPTrustsForwardedForOnlyFromTrustedProxies(t *testing.T) {
	proxies, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		proxies   TrustedProxies
		remote    string
		forwarded []string
		want      string
	}{
		{name: "no proxies configured: the header is ignored", remote: "198.51.100.1:4000", forwarded: []string{"203.0.113.9"}, want: "198.51.100.1"},
		{name: "spoofed header from an untrusted peer", proxies: proxies, remote: "198.51.100.1:4000", forwarded: []string{"10.1.1.1"}, want: "198.51.100.1"},
		{name: "trusted proxy, one hop", proxies: proxies, remote: "10.0.0.5:4000", forwarded: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "trusted proxy without a header", proxies: proxies, remote: "10.0.0.5:4000", want: "10.0.0.5"},
		{name: "chain: trusted hops skipped right to left", proxies: proxies, remote: "10.0.0.5:4000", forwarded: []string{"203.0.113.9, 192.0.2.7, 10.2.3.4"}, want: "203.0.113.9"},
		{name: "chain: client-written entries left of the client are ignored", proxies: proxies, remote: "10.0.0.5:4000", forwarded: []string{"1.2.3.4, 203.0.113.9, 10.2.3.4"}, want: "203.0.113.9"},
		{name: "chain over several headers", proxies: proxies, remote: "10.0.0.5:4000", forwarded: []string{"1.2.3.4, 203.0.113.9", "10.2.3.4"}, want: "203.0.113.9"},
		{name: "every hop trusted: the leftmost", proxies: proxies, remote: "10.0.0.5:4000", forwarded: []string{"10.9.9.9, 10.2.3.4"}, want: "10.9.9.9"},
		{name: "garbage stops at the last hop read", proxies: proxies, remote: "10.0.0.5:4000", forwarded: []string{"203.0.113.9, not-an-ip, 10.2.3.4"}, want: "10.2.3.4"},
		{name: "IPv6 peer and client", proxies: TrustedProxies{mustPrefix(t, "fd00::/8")}, remote: "[fd00::1]:4000", forwarded: []string{"2001:db8::5"}, want: "2001:db8::5"},
		{name: "IPv4-mapped peer", proxies: proxies, remote: "[::ffff:10.0.0.5]:4000", forwarded: []string{"203.0.113.9"}, want: "203.0.113.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "http://bridge/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.forwarded {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tc.proxies.ClientIP(r); got != tc.want {
				t.Errorf("ClientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxiesRejectsGarbage(t *testing.T) {
	for _, v := range []string{"10.0.0.0/33", "proxy.example.com", "10.0.0"} {
		if _, err := ParseTrustedProxies([]string{v}); err == nil {
			t.Errorf("ParseTrustedProxies(%q) succeeded", v)
		}
	}
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	proxies, err := ParseTrustedProxies([]string{s})
	if err != nil || len(proxies) != 1 {
		t.Fatalf("parse %q: %v", s, err)
	}
	return proxies[0]
}

// The per-IP limit cannot be dodged by writing another address into
// X-Forwarded-For: without trusted proxies the client is the connection's peer.
func TestClientIPIsTheConnectionsPeer(t *testing.T) {
	r := httptest.NewRequest("GET", "/api/v1/sessions", nil)
	r.RemoteAddr = "192.0.2.7:51234"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := (TrustedProxies{}).ClientIP(r); got != "192.0.2.7" {
		t.Errorf("clientIP = %q, want the peer 192.0.2.7", got)
	}
}
