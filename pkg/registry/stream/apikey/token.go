package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// TokenPrefix starts every API key token, so that the token webhook (and a
// secret scanner) tells them from other bearer tokens at a glance.
const TokenPrefix = "ssk_"

// secretBytes is the entropy of a token's secret: 256 bits.
const secretBytes = 32

// NewToken returns a new token for the key called name, and its hash to
// store: "ssk_<name>_<64 hex digits>". A key's name, a DNS subdomain, has no
// '_', so the token names its key.
func NewToken(name string) (token, hash string) {
	secret := make([]byte, secretBytes)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails (it crashes the program instead)
	token = TokenPrefix + name + "_" + hex.EncodeToString(secret)
	return token, HashToken(token)
}

// HashToken is the stored form of a token: hex SHA-256. A token carries 256
// random bits, so a plain hash cannot be reversed by guessing.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ParseToken returns the name of the key a token claims to be, or false
// when it is not shaped like an API key token.
func ParseToken(token string) (name string, ok bool) {
	rest, found := strings.CutPrefix(token, TokenPrefix)
	if !found {
		return "", false
	}
	name, secret, found := strings.Cut(rest, "_")
	if !found || name == "" || len(secret) != 2*secretBytes {
		return "", false
	}
	if _, err := hex.DecodeString(secret); err != nil {
		return "", false
	}
	return name, true
}

// TokenMatches compares a token with a stored hash in constant time.
func TokenMatches(token, hash string) bool {
	return hash != "" && subtle.ConstantTimeCompare([]byte(HashToken(token)), []byte(hash)) == 1
}
