package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter/jsonx"
)

// reloadSubject carries configuration reloads to every gateway process on
// the bus: each one that hears a reload re-reads its own configuration
// file. A request with a reply subject gets one ReloadReply per process.
const reloadSubject = "_GW.reload"

// ReloadRequest asks every gateway process to reload its configuration.
type ReloadRequest struct {
	// Origin is the process (or "cli") that asks; a process ignores the
	// reloads it announced itself.
	Origin string `json:"origin"`
}

// ReloadReply is one process's answer to a reload.
type ReloadReply struct {
	Process string `json:"process"`
	// Role is the process's mode: all, ingress or worker.
	Role string `json:"role"`
	OK   bool   `json:"ok"`
	// Error says why the new configuration was refused; the process goes
	// on with the configuration it had.
	Error string `json:"error,omitempty"`
}

// ServeReloads calls reload for every reload another process than origin
// announces, and answers those that ask for it, until the subscription is
// unsubscribed. reload runs on a goroutine of its own, one at a time, so
// the connection's dispatch never waits on it.
func ServeReloads(nc *nats.Conn, origin string, reload func() ReloadReply) (*nats.Subscription, error) {
	queue := make(chan *nats.Msg, 16)
	sub, err := nc.Subscribe(reloadSubject, func(m *nats.Msg) {
		var req ReloadRequest
		if jsonx.Unmarshal(m.Data, &req) != nil || req.Origin == origin {
			return
		}
		select {
		case queue <- m:
		default:
			// Reloads already waiting will read the file as it is now.
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing to reloads: %w", err)
	}
	sub.SetClosedHandler(func(string) { close(queue) })
	go func() {
		for m := range queue {
			reply := reload()
			if m.Reply == "" {
				continue
			}
			if data, err := jsonx.Marshal(reply); err == nil {
				_ = m.Respond(data)
			}
		}
	}()
	return sub, nil
}

// AnnounceReload tells every other gateway process to reload, without
// waiting for answers.
func AnnounceReload(nc *nats.Conn, origin string) error {
	data, err := jsonx.Marshal(ReloadRequest{Origin: origin})
	if err != nil {
		return err
	}
	if err := nc.Publish(reloadSubject, data); err != nil {
		return fmt.Errorf("announcing a reload: %w", err)
	}
	return nc.Flush()
}

// RequestReload asks every gateway process to reload and gathers their
// answers until wait is over or ctx ends.
func RequestReload(ctx context.Context, nc *nats.Conn, wait time.Duration) ([]ReloadReply, error) {
	inbox := nats.NewInbox()
	replies := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(inbox, replies)
	if err != nil {
		return nil, fmt.Errorf("subscribing to reload answers: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	data, err := jsonx.Marshal(ReloadRequest{Origin: "cli"})
	if err != nil {
		return nil, err
	}
	if err := nc.PublishRequest(reloadSubject, inbox, data); err != nil {
		return nil, fmt.Errorf("asking for a reload: %w", err)
	}
	if err := nc.Flush(); err != nil {
		return nil, fmt.Errorf("asking for a reload: %w", err)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var out []ReloadReply
	for {
		select {
		case m := <-replies:
			var r ReloadReply
			if jsonx.Unmarshal(m.Data, &r) == nil {
				out = append(out, r)
			}
		case <-timer.C:
			return out, nil
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}

// ConnectOnce opens a plain connection to the NATS of cfg at url, for a
// command that does one thing and exits: it does not retry.
func ConnectOnce(cfg config.Bus, url string, timeout time.Duration) (*nats.Conn, error) {
	opts, err := authOptions(cfg)
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.Name("gateway-cli"), nats.Timeout(timeout), nats.NoReconnect())
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS %s: %w", redactURL(url), err)
	}
	return nc, nil
}
