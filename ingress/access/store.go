package access

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aigateway/gateway/bus"
)

// probeKey is the entry the store check writes. It is not a counter: counter
// entries are named after a limit ("rpm.", "tpm.", "qreq.", "qtok.").
const probeKey = "health.probe"

// StoreResource is the counter bucket as a resource a bus.Keeper keeps: its
// check writes a probe entry, so a store that accepts no writes (a full
// disk, a lost quorum) is reported, and a bucket that is gone, after a NATS
// restart on an empty store for instance, is created again. It must not be
// used when access control is off.
func (g *Guard) StoreResource() bus.Resource {
	return bus.Resource{
		Name:   "access store",
		Check:  g.checkStore,
		Create: g.createStore,
	}
}

func (g *Guard) checkStore(ctx context.Context) error {
	if _, err := g.js.KeyValue(ctx, g.kvCfg.Bucket); err != nil {
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return fmt.Errorf("%w: key-value bucket %s", bus.ErrMissing, g.kvCfg.Bucket)
		}
		return fmt.Errorf("access: key-value bucket %s: %w", g.kvCfg.Bucket, err)
	}
	pctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	if _, err := g.kv.Put(pctx, probeKey, []byte("ok")); err != nil {
		return fmt.Errorf("access: key-value bucket %s takes no writes: %w", g.kvCfg.Bucket, err)
	}
	// The store works again: requests need not wait out the back-off.
	g.markUp()
	return nil
}

func (g *Guard) createStore(ctx context.Context) error {
	if _, err := g.js.CreateOrUpdateKeyValue(ctx, g.kvCfg); err != nil {
		return fmt.Errorf("access: create key-value bucket %q: %w", g.kvCfg.Bucket, err)
	}
	return nil
}
