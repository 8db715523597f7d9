package app

import (
	"context"
	"fmt"
	"net"
	"strings"
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
	m := startMock(t, mock.DefaultConfig())
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

// startNATSNodes starts n clustered JetStream servers that a test can
// restart, and returns once they can place replicated streams.
func startNATSNodes(t testing.TB, n int) []*natsNode {
	t.Helper()
	clientPorts, clusterPorts := freePorts(t, n), freePorts(t, n)
	var routes []string
	for _, p := range clusterPorts {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	nodes := make([]*natsNode, n)
	for i := range nodes {
		nodes[i] = &natsNode{t: t, opts: server.Options{
			ServerName: fmt.Sprintf("node-%d", i+1),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster:    server.ClusterOpts{Name: "gateway-test", Host: "127.0.0.1", Port: clusterPorts[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}}
		nodes[i].start()
		t.Cleanup(nodes[i].stop)
	}
	return nodes
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// TestSplitModeSurvivesClusterRestart stops every node of a three-node
// cluster and starts them again, with empty stores, under two worker and one
// ingress process with replicated queues.
func TestSplitModeSurvivesClusterRestart(t *testing.T) {
	nodes := startNATSNodes(t, 3)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.url())
	}
	m := startMock(t, mock.DefaultConfig())
	env := map[string]string{
		"GATEWAY_BUS_MODE":     "external",
		"GATEWAY_BUS_URL":      strings.Join(urls, ","),
		"GATEWAY_BUS_REPLICAS": "3",
	}
	// The first process to start waits for the cluster to elect its
	// leaders; start-up retries creating the queues meanwhile.
	for range 2 {
		startProc(t, ModeWorker, m.URL(), m.URL(), "", env)
	}
	p := startProc(t, ModeIngress, m.URL(), m.URL(), "", env)
	g := &gateway{t: t, url: p.url, app: p.app, mock: m, logs: p.logs}
	firstSuccess(t, g, 30*time.Second)

	for _, n := range nodes {
		n.stop()
	}
	stopped := time.Now()
	// The nodes come back without their JetStream state, as containers
	// without persistent volumes do: nothing the gateway created is left.
	for _, n := range nodes {
		n.opts.StoreDir = t.TempDir()
		n.start()
	}
	took := firstSuccess(t, g, 60*time.Second)
	t.Logf("first successful requests %v after the cluster was back (%v after it stopped)", took, time.Since(stopped))
}
