package gitcatalog

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// MaxSlugLength keeps slugs usable as label values and label-name parts.
const MaxSlugLength = 63

// Slug normalises a category, folder name or tag for filtering: lowercase
// ASCII letters and digits, every other run of characters one "-", accents
// dropped, at most 63 characters. "Design & Graphics" → "design-graphics",
// "Audio, Video" → "audio-video", "Éditeurs" → "editeurs".
func Slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFKD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// a combining accent of the previous letter
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(unicode.ToLower(r))
		default:
			dash = true
		}
	}
	out := b.String()
	if len(out) > MaxSlugLength {
		out = strings.TrimRight(out[:MaxSlugLength], "-")
	}
	return out
}
