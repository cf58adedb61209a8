package giturl

import (
	"net/url"
	"testing"
)

func TestRedact(t *testing.T) {
	cases := map[string]string{
		"https://ghp_abcdef@github.com/org/repo":           "https://github.com/org/repo",
		"https://user:hunter2@github.com/org/repo.git":     "https://github.com/org/repo.git",
		"https://github.com/org/repo?access_token=ghp_x#f": "https://github.com/org/repo",
		"http://x-access-token:tok@host:8080/r.git":        "http://host:8080/r.git",
		"ssh://git@github.com/org/repo.git":                "ssh://git@github.com/org/repo.git",
		"ssh://git:pw@github.com/org/repo.git":             "ssh://git@github.com/org/repo.git",
		"git@github.com:org/repo.git":                      "git@github.com:org/repo.git",
		"https://ghp_abc@github.com/%zz":                   Unparseable,
		"ghp_secret":                                       Unparseable,
		"https://github.com/org/repo.git":                  "https://github.com/org/repo.git",
		"file:///srv/git/repo.git":                         "file:///srv/git/repo.git",
	}
	for in, want := range cases {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSameHost(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"https://github.com/a", "https://GitHub.com/b", true},
		{"https://github.com/a", "https://github.com:443/b", true},
		{"https://github.com/a", "https://github.com:8443/b", false},
		{"https://github.com/a", "https://codeload.github.com/a", false},
		{"http://host/a", "http://host:80/a", true},
		{"https://127.0.0.1:4431/a", "https://127.0.0.1:4432/a", false},
	}
	for _, tc := range cases {
		a, _ := url.Parse(tc.a)
		b, _ := url.Parse(tc.b)
		if got := SameHost(a, b); got != tc.want {
			t.Errorf("SameHost(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"https://GitHub.com/Org/Repo.git":      "github.com/org/repo",
		"https://github.com/org/repo/":         "github.com/org/repo",
		"ssh://git@github.com:22/org/repo.git": "github.com/org/repo",
		"git@github.com:org/repo.git":          "github.com/org/repo",
		"http://127.0.0.1:8080/catalog.git":    "127.0.0.1/catalog",
		"https://gitlab.example.org/a/b/c.git": "gitlab.example.org/a/b/c",
		"not a url":                            "",
		"https://github.com":                   "",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}
