package converter

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxUserIDLen is the longest end-user id carried as it is. OpenAI caps
// `user` at 64 characters in places (safety_identifier, prompt_cache_key)
// and Anthropic asks for an opaque id in metadata.user_id, refusing long
// ones; 64 fits both.
const maxUserIDLen = 64

// opaqueUserID carries an end-user id between the dialects. An id that fits
// and names nobody is kept; one over maxUserIDLen, or that looks like an
// e-mail address (Anthropic forbids identifying data there, and a gateway
// should not leak it upstream), becomes "user-" and 32 hex digits of its
// SHA-256: the same user keeps the same id, so the provider's per-user
// abuse tracking still works, and nothing of the original is sent.
func opaqueUserID(id string) string {
	if len(id) <= maxUserIDLen && !strings.Contains(id, "@") {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "user-" + hex.EncodeToString(sum[:16])
}
