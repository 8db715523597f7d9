package access

import (
	"crypto/sha256"
	"encoding/hex"
)

// scopeLabel separates the scope digest from any other use of the key hash.
const scopeLabel = "gateway store scope\x00"

// Scope identifies the key to the stores that keep what it made, stored
// responses for one: what a key stored only that key reads. It is derived
// from the key's hash rather than its name, so a key name given to a new
// secret does not inherit what the old one stored, and it is not the
// configured hash itself, which stays out of bucket keys. A nil Key (access
// control off) has the empty scope, shared by every client.
func (k *Key) Scope() string {
	if k == nil {
		return ""
	}
	sum := sha256.Sum256(append([]byte(scopeLabel), k.hash[:]...))
	return hex.EncodeToString(sum[:16])
}
