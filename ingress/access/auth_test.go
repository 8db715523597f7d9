package access

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aigateway/gateway/config"
)

func TestValidate(t *testing.T) {
	good := keyConf("a")
	tests := []struct {
		name    string
		cfg     config.Access
		wantErr string
	}{
		{name: "ok", cfg: accessConf("closed", good)},
		{name: "empty policy means closed", cfg: accessConf("", good)},
		{name: "open policy", cfg: accessConf("open", good)},
		{name: "unknown policy", cfg: accessConf("sometimes", good), wantErr: "store_failure"},
		{name: "empty name", cfg: accessConf("", config.Key{KeySHA256: good.KeySHA256}), wantErr: "empty name"},
		{name: "duplicate name", cfg: accessConf("", good, config.Key{Name: "a", KeySHA256: HashKey("other")}), wantErr: "duplicate name"},
		{name: "duplicate key", cfg: accessConf("", good, config.Key{Name: "b", KeySHA256: good.KeySHA256}), wantErr: "same key"},
		{name: "short hash", cfg: accessConf("", config.Key{Name: "a", KeySHA256: "abcd"}), wantErr: "64 hex"},
		{name: "not hex", cfg: accessConf("", config.Key{Name: "a", KeySHA256: strings.Repeat("z", 64)}), wantErr: "hex"},
		{name: "negative limit", cfg: accessConf("", config.Key{Name: "a", KeySHA256: good.KeySHA256, RequestsPerMinute: -1}), wantErr: "negative"},
		{name: "quota without period means month", cfg: accessConf("", config.Key{Name: "a", KeySHA256: good.KeySHA256, QuotaTokens: 5})},
		{name: "bad period", cfg: accessConf("", config.Key{Name: "a", KeySHA256: good.KeySHA256, QuotaTokens: 5, QuotaPeriod: "year"}), wantErr: "quota_period"},
		{name: "bad admin hash", cfg: config.Access{AdminKeySHA256: "xyz"}, wantErr: "admin_key_sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate: got %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t, accessConf("closed", keyConf("alice"), keyConf("bob")))
	tests := []struct {
		name          string
		authorization string
		xAPIKey       string
		want          string // key name
		wantErr       error
	}{
		{name: "bearer", authorization: "Bearer " + plainKey("alice"), want: "alice"},
		{name: "bearer lowercase scheme", authorization: "bearer " + plainKey("bob"), want: "bob"},
		{name: "bearer extra spaces", authorization: "  Bearer   " + plainKey("bob") + " ", want: "bob"},
		{name: "x-api-key", xAPIKey: plainKey("bob"), want: "bob"},
		{name: "bearer wins over x-api-key", authorization: "Bearer " + plainKey("alice"), xAPIKey: plainKey("bob"), want: "alice"},
		{name: "other scheme falls back to x-api-key", authorization: "Basic Zm9vOmJhcg==", xAPIKey: plainKey("bob"), want: "bob"},
		{name: "missing", wantErr: ErrMissingKey},
		{name: "blank headers", authorization: "  ", xAPIKey: " ", wantErr: ErrMissingKey},
		{name: "wrong bearer", authorization: "Bearer " + plainKey("mallory"), wantErr: ErrInvalidKey},
		{name: "wrong x-api-key", xAPIKey: plainKey("mallory"), wantErr: ErrInvalidKey},
		{name: "bearer without token", authorization: "Bearer ", wantErr: ErrInvalidKey},
		{name: "other scheme only", authorization: "Basic Zm9vOmJhcg==", wantErr: ErrInvalidKey},
		{name: "hash instead of key", xAPIKey: HashKey(plainKey("alice")), wantErr: ErrInvalidKey},
		{name: "key with suffix", xAPIKey: plainKey("alice") + "x", wantErr: ErrInvalidKey},
	}
	var allowed, denied float64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := f.g.Authenticate([]byte(tt.authorization), []byte(tt.xAPIKey))
			if tt.wantErr != nil {
				denied++
				if !errors.Is(err, tt.wantErr) || k != nil {
					t.Fatalf("got (%v, %v), want %v", k, err, tt.wantErr)
				}
				return
			}
			allowed++
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if k.Name() != tt.want {
				t.Fatalf("key %q, want %q", k.Name(), tt.want)
			}
		})
	}
	if got := testutil.ToFloat64(f.g.met.authAllowed); got != allowed {
		t.Errorf("allowed auth metric %v, want %v", got, allowed)
	}
	if got := testutil.ToFloat64(f.g.met.authDenied); got != denied {
		t.Errorf("denied auth metric %v, want %v", got, denied)
	}
}

func TestIsAdmin(t *testing.T) {
	adminPlain := "gw-admin-secret"
	cfg := accessConf("closed", keyConf("alice"))
	cfg.AdminKeySHA256 = HashKey(adminPlain)
	f := newFixture(t, cfg)
	noAdmin := newFixture(t, accessConf("closed", keyConf("alice")))
	tests := []struct {
		name          string
		g             *Guard
		authorization string
		xAPIKey       string
		want          bool
	}{
		{name: "bearer admin", g: f.g, authorization: "Bearer " + adminPlain, want: true},
		{name: "x-api-key admin", g: f.g, xAPIKey: adminPlain, want: true},
		{name: "user key", g: f.g, authorization: "Bearer " + plainKey("alice")},
		{name: "nothing", g: f.g},
		{name: "no admin configured", g: noAdmin.g, xAPIKey: adminPlain},
		{name: "no admin configured, empty key", g: noAdmin.g, xAPIKey: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.g.IsAdmin([]byte(tt.authorization), []byte(tt.xAPIKey)); got != tt.want {
				t.Fatalf("IsAdmin = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	limited := keyConf("limited")
	limited.Routes = []string{"/v1/chat/completions"}
	limited.Models = []string{"gpt-4o", "claude-sonnet"}
	f := newFixture(t, accessConf("closed", limited, keyConf("open")))
	tests := []struct {
		name    string
		key     string
		route   string
		model   string
		wantErr error
	}{
		{name: "allowed route and model", key: "limited", route: "/v1/chat/completions", model: "gpt-4o"},
		{name: "second model", key: "limited", route: "/v1/chat/completions", model: "claude-sonnet"},
		{name: "route not allowed", key: "limited", route: "/v1/messages", model: "gpt-4o", wantErr: ErrRouteNotAllowed},
		{name: "model not allowed", key: "limited", route: "/v1/chat/completions", model: "gpt-5", wantErr: ErrModelNotAllowed},
		{name: "empty model not allowed", key: "limited", route: "/v1/chat/completions", wantErr: ErrModelNotAllowed},
		{name: "empty lists allow all", key: "open", route: "/v1/messages", model: "anything"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.g.Authorize(auth(t, f.g, tt.key), tt.route, tt.model)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Authorize = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewKey(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		plain, hash, err := NewKey()
		if err != nil {
			t.Fatalf("NewKey: %v", err)
		}
		if !strings.HasPrefix(plain, keyPrefix) {
			t.Fatalf("key %q lacks prefix %q", plain, keyPrefix)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(plain, keyPrefix))
		if err != nil || len(raw) != 32 {
			t.Fatalf("key body: %d bytes, err %v; want 32 bytes of base64url", len(raw), err)
		}
		sum := sha256.Sum256([]byte(plain))
		if hash != hex.EncodeToString(sum[:]) || hash != HashKey(plain) {
			t.Fatalf("hash %s does not match the key", hash)
		}
		if seen[plain] {
			t.Fatal("NewKey repeated a key")
		}
		seen[plain] = true
	}
}

func TestHashKeyIsAcceptedByValidate(t *testing.T) {
	plain, hash, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, accessConf("closed", config.Key{Name: "new", KeySHA256: hash}))
	k, err := f.g.Authenticate(nil, []byte(plain))
	if err != nil || k.Name() != "new" {
		t.Fatalf("Authenticate(new key) = %v, %v", k, err)
	}
}
