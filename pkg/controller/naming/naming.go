// Package naming turns session and user names into names and label values
// Kubernetes accepts, deterministically, with a hash suffix whenever the
// name had to change so that different inputs never collide.
package naming

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

const hashLength = 8

// DNSLabel returns s as a DNS-1035 label (at most 63 characters, lower-case
// letters, digits and '-', starting with a letter): s itself when it already
// is one, else a cleaned prefix plus '-' and a hash of s.
func DNSLabel(s string) string {
	if len(validation.IsDNS1035Label(s)) == 0 {
		return s
	}
	clean := clean(strings.ToLower(s), func(r rune) bool { return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' })
	if clean == "" || clean[0] < 'a' || clean[0] > 'z' {
		clean = "x-" + clean
	}
	return withHash(clean, s, validation.DNS1035LabelMaxLength)
}

// LabelValue returns s as a valid label value: s itself when it is one,
// else a cleaned prefix plus '-' and a hash of s.
func LabelValue(s string) string {
	if len(validation.IsValidLabelValue(s)) == 0 {
		return s
	}
	clean := clean(s, func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_'
	})
	return withHash(strings.Trim(clean, "._"), s, validation.LabelValueMaxLength)
}

// HomeClaimName is the PersistentVolumeClaim of a user's home directory,
// home-<user>, valid for any user name (e-mail addresses included).
func HomeClaimName(user string) string {
	return DNSLabel("home-" + user)
}

// clean keeps runs of allowed characters joined by single '-', trimmed.
func clean(s string, allowed func(rune) bool) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		if allowed(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}

func withHash(clean, original string, max int) string {
	sum := sha256.Sum256([]byte(original))
	suffix := hex.EncodeToString(sum[:])[:hashLength]
	if keep := max - hashLength - 1; len(clean) > keep {
		clean = strings.TrimRight(clean[:keep], "-._")
	}
	if clean == "" {
		return "x" + suffix
	}
	return clean + "-" + suffix
}
