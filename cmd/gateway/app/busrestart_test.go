package app

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

// natsNode is an external nats-server that a test can restart on the same
// address and store directory, the way an operator restarts one.
type natsNode struct {
	t    testing.TB
	opts server.Options
	srv  *server.Server
}

// startNATSNode starts a single JetStream server on a free loopback port.
func startNATSNode(t testing.TB) *natsNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	n := &natsNode{t: t, opts: server.Options{
		ServerName: "solo",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoSigs:     true,
		NoLog:      true,
	}}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsNode) start() {
	n.t.Helper()
	opts := n.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		n.t.Fatalf("nats-server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats-server not ready")
	}
	n.srv = srv
}

func (n *natsNode) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// restart stops the server and starts it again: what it kept in memory,
// the gateway's queues among it, is gone.
func (n *natsNode) restart() {
	n.stop()
	n.start()
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port) }

// firstSuccess polls with one chat completion of each API through g until
// both succeed, and returns how long that took.
func firstSuccess(t *testing.T, g *gateway, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	eventually(t, bound, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := g.openAI("").Chat.Completions.New(ctx, chatParams("after the restart")); err != nil {
			return fmt.Errorf("openai: %w", err)
		}
		if _, err := g.anthropic("").Messages.New(ctx, messageParams("after the restart")); err != nil {
			return fmt.Errorf("anthropic: %w", err)
		}
		return nil
	})
	return time.Since(start)
}

// TestSplitModeSurvivesNATSRestart restarts the one external NATS server
// under an ingress and a worker process. The memory queues die with it;
// the processes recreate them on their own and serve again without being
// restarted.
func TestSplitModeSurvivesNATSRestart(t *testing.T) {
	node := startNATSNode(t)
	m := mock.New(mock.DefaultConfig())
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	env := map[string]string{"GATEWAY_BUS_MODE": "external", "GATEWAY_BUS_URL": node.url()}
	startProc(t, ModeWorker, m.URL(), m.URL(), "", env)
	p := startProc(t, ModeIngress, m.URL(), m.URL(), "", env)
	g := &gateway{t: t, url: p.url, app: p.app, mock: m, logs: p.logs}
	firstSuccess(t, g, 10*time.Second)

	for round := range 2 {
		node.restart()
		took := firstSuccess(t, g, 20*time.Second)
		t.Logf("round %d: first successful requests %v after the NATS server restarted", round+1, took)
	}
}
