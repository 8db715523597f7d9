package access

import (
	"context"
	"errors"
	"testing"

	"github.com/aigateway/gateway/config"
)

func TestUpdateSwapsKeys(t *testing.T) {
	limited := keyConf("a")
	limited.RequestsPerMinute = 2
	f := newFixture(t, accessConf(PolicyClosed, limited, keyConf("b")))
	g := f.g
	a := auth(t, g, "a")
	mustAdmit(t, g, a, 1)
	auth(t, g, "b")

	// a's limit rises, b goes, c comes.
	raised := limited
	raised.RequestsPerMinute = 3
	if err := g.Update(context.Background(), accessConf(PolicyClosed, raised, keyConf("c"))); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Authenticate([]byte("Bearer "+plainKey("b")), nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("a removed key authenticates: %v", err)
	}
	auth(t, g, "c")
	a2 := auth(t, g, "a")
	if a2 == a {
		t.Error("a changed key kept its old limits")
	}
	// The request admitted before the reload still counts: 3 in the
	// minute in all.
	mustAdmit(t, g, a2, 1)
	mustAdmit(t, g, a2, 1)
	mustDeny(t, g, a2, 1, RateLimited)

	// An unchanged key keeps its counters.
	if err := g.Update(context.Background(), accessConf(PolicyClosed, raised, keyConf("c"))); err != nil {
		t.Fatal(err)
	}
	if auth(t, g, "a") != a2 {
		t.Error("an unchanged key was rebuilt")
	}

	for _, cfg := range []config.Access{{Enabled: false}, accessConf(PolicyOpen, raised)} {
		if err := g.Update(context.Background(), cfg); !errors.Is(err, ErrRestartNeeded) {
			t.Errorf("Update(%+v) = %v, want ErrRestartNeeded", cfg, err)
		}
	}
}
