package access

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// keyPrefix marks keys made by NewKey, so a leaked one is easy to recognise
// in logs and secret scanners.
const keyPrefix = "gw-"

// NewKey makes a new random API key: "gw-" followed by 32 random bytes in
// unpadded base64url. It returns the key, to hand to the client once, and its
// SHA-256 in hex, to put in the configuration.
func NewKey() (plain string, sha256hex string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("access: read random bytes: %w", err)
	}
	plain = keyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return plain, HashKey(plain), nil
}

// HashKey returns the lowercase hex SHA-256 of an API key, the form the
// configuration stores.
func HashKey(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

func decodeHash(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, fmt.Errorf("want 64 hex digits, got %d characters", len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, errors.New("not a hex SHA-256")
	}
	return h, nil
}

// credential extracts the API key from the Authorization header ("Bearer"
// scheme, case-insensitive) or, failing that, from x-api-key. present
// reports whether the client sent anything that looks like a credential:
// an Authorization header with another scheme is an invalid key, not a
// missing one.
func credential(authorization, xAPIKey []byte) (token []byte, present bool) {
	authorization = bytes.TrimSpace(authorization)
	if len(authorization) > 0 {
		const scheme = "bearer "
		if len(authorization) > len(scheme) && bytes.EqualFold(authorization[:len(scheme)], []byte(scheme)) {
			if t := bytes.TrimSpace(authorization[len(scheme):]); len(t) > 0 {
				return t, true
			}
		}
	}
	if t := bytes.TrimSpace(xAPIKey); len(t) > 0 {
		return t, true
	}
	return nil, len(authorization) > 0
}

// Authenticate finds the configured key presented as "Authorization: Bearer"
// or x-api-key. The presented key is hashed and compared in constant time
// with every configured hash, without stopping at a match, so the time taken
// does not tell which key or how much of it matched. It returns ErrMissingKey
// or ErrInvalidKey (401).
func (g *Guard) Authenticate(authorization, xAPIKey []byte) (*Key, error) {
	token, present := credential(authorization, xAPIKey)
	if token == nil {
		g.countAuth(false)
		if present {
			return nil, ErrInvalidKey
		}
		return nil, ErrMissingKey
	}
	sum := sha256.Sum256(token)
	keys := g.keySet().keys
	match := -1
	for i, k := range keys {
		eq := subtle.ConstantTimeCompare(sum[:], k.hash[:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		g.countAuth(false)
		return nil, ErrInvalidKey
	}
	g.countAuth(true)
	return keys[match], nil
}

func (g *Guard) countAuth(ok bool) {
	if g.met == nil {
		return
	}
	if ok {
		g.met.authAllowed.Inc()
	} else {
		g.met.authDenied.Inc()
	}
}

// IsAdmin reports whether the request carries the admin key. Without an
// admin key configured nobody is admin.
func (g *Guard) IsAdmin(authorization, xAPIKey []byte) bool {
	set := g.keySet()
	if !set.hasAdmin {
		return false
	}
	token, _ := credential(authorization, xAPIKey)
	if token == nil {
		return false
	}
	sum := sha256.Sum256(token)
	return subtle.ConstantTimeCompare(sum[:], set.admin[:]) == 1
}

// Authorize checks the key's route and model allow-lists; an empty list
// allows everything. It returns ErrRouteNotAllowed or ErrModelNotAllowed (403).
func (g *Guard) Authorize(k *Key, route, model string) error {
	if k == nil {
		return ErrInvalidKey
	}
	if k.routes != nil {
		if _, ok := k.routes[route]; !ok {
			return ErrRouteNotAllowed
		}
	}
	if k.models != nil {
		if _, ok := k.models[model]; !ok {
			return ErrModelNotAllowed
		}
	}
	return nil
}
