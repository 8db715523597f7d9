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
	g.Settle(mustAdmit(t, g, a, 1), "", Usage{})
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
	// The new limit holds: 3 in the minute, less what the store already
	// holds of the use before the reload.
	admitted := 0
	for ; admitted < 4; admitted++ {
		if _, err := g.Admit(context.Background(), a2, 1); err != nil {
			var d *Denial
			if !errors.As(err, &d) || d.Reason != RateLimited {
				t.Fatalf("admit: %v", err)
			}
			break
		}
	}
	if admitted < 2 || admitted > 3 {
		t.Errorf("admitted %d after raising the limit to 3 with 1 used", admitted)
	}

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
