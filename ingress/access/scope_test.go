package access

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/config"
)

func TestKeyScope(t *testing.T) {
	a, b := newKey(keyConf("alice")), newKey(keyConf("bob"))
	renamed := newKey(config.Key{Name: "carol", KeySHA256: keyConf("alice").KeySHA256})
	if a.Scope() == "" || a.Scope() == b.Scope() {
		t.Errorf("scopes of two keys: %q, %q", a.Scope(), b.Scope())
	}
	if a.Scope() != renamed.Scope() {
		t.Errorf("the same secret under another name has another scope: %q, %q", a.Scope(), renamed.Scope())
	}
	if strings.Contains(keyConf("alice").KeySHA256, a.Scope()) {
		t.Errorf("scope %q is part of the configured hash", a.Scope())
	}
	var none *Key
	if none.Scope() != "" {
		t.Errorf("no key: scope %q", none.Scope())
	}
}
