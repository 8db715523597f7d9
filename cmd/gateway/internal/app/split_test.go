package app

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openai/openai-go/v3"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

// startNATSCluster starts n clustered nats-servers with JetStream, and
// returns once they have formed a cluster that can place replicated streams.
func startNATSCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	// Cluster ports are chosen up front so every server can name all the
	// others as routes.
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	servers := make([]*server.Server, n)
	for i := range servers {
		opts := &server.Options{
			ServerName: fmt.Sprintf("node-%d", i+1),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster:    server.ClusterOpts{Name: "gateway-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		srv.Start()
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatalf("node %d not ready", i+1)
		}
		servers[i] = srv
		t.Cleanup(func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		})
	}
	// Ready means a replicated stream can be created: routes are up, a meta
	// leader is elected and every peer is known to it.
	nc, err := nats.Connect(clusterURL(servers))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: "PROBE", Subjects: []string{"probe"}, Storage: jetstream.MemoryStorage, Replicas: n,
		}); err != nil {
			return err
		}
		return js.DeleteStream(ctx, "PROBE")
	})
	return servers
}

func clusterURL(servers []*server.Server) string {
	urls := make([]string, 0, len(servers))
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

// TestSplitModeOnACluster runs two ingress and two worker processes against
// a three-node NATS cluster with replicated queues, streams through both
// ingresses with the official SDKs, then stops the node that carries the
// most connections: traffic comes back and carries on.
func TestSplitModeOnACluster(t *testing.T) {
	nodes := startNATSCluster(t, 3)
	m := mock.New(mock.DefaultConfig())
	upstream := httptest.NewServer(m.Handler())
	t.Cleanup(upstream.Close)
	env := map[string]string{
		"GATEWAY_BUS_MODE":     "external",
		"GATEWAY_BUS_URL":      clusterURL(nodes),
		"GATEWAY_BUS_REPLICAS": "3",
		// A pull that went to a stopped node is renewed after the stall
		// time-out at the latest; keep waiting requests alive past it.
		"GATEWAY_UPSTREAMS_OPENAI_QUEUE_TIMEOUT":    "10s",
		"GATEWAY_UPSTREAMS_ANTHROPIC_QUEUE_TIMEOUT": "10s",
	}
	for range 2 {
		startProc(t, ModeWorker, upstream.URL, upstream.URL, "", env)
	}
	var ingresses []*gateway
	for range 2 {
		p := startProc(t, ModeIngress, upstream.URL, upstream.URL, "", env)
		ingresses = append(ingresses, &gateway{t: t, url: p.url, app: p.app, mock: m})
	}

	// roundTrip streams one answer through g with each SDK.
	roundTrip := func(g *gateway, text string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		params := chatParams(text)
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := g.openAI("").Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			return fmt.Errorf("openai stream: %w", err)
		}
		if len(acc.Choices) == 0 || acc.Choices[0].Message.Content != "Hello! You said: "+text {
			return fmt.Errorf("openai stream: answer %+v", acc.Choices)
		}
		astream := g.anthropic("").Messages.NewStreaming(ctx, messageParams(text))
		var msg anthropic.Message
		for astream.Next() {
			if err := msg.Accumulate(astream.Current()); err != nil {
				return fmt.Errorf("anthropic stream: %w", err)
			}
		}
		if err := astream.Err(); err != nil {
			return fmt.Errorf("anthropic stream: %w", err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != "Hello! You said: "+text {
			return fmt.Errorf("anthropic stream: answer %+v", msg.Content)
		}
		return nil
	}

	for i, g := range ingresses {
		if err := roundTrip(g, fmt.Sprintf("before, ingress %d", i+1)); err != nil {
			t.Fatalf("ingress %d: %v", i+1, err)
		}
	}

	// Stop the node most gateway connections are on.
	victim := nodes[0]
	for _, n := range nodes[1:] {
		if n.NumClients() > victim.NumClients() {
			victim = n
		}
	}
	if victim.NumClients() == 0 {
		t.Fatal("no gateway connection on any node")
	}
	t.Logf("stopping %s with %d client connections", victim.Name(), victim.NumClients())
	stopped := time.Now()
	victim.Shutdown()
	victim.WaitForShutdown()

	for i, g := range ingresses {
		eventually(t, 40*time.Second, func() error {
			return roundTrip(g, fmt.Sprintf("recovering, ingress %d", i+1))
		})
	}
	t.Logf("both ingresses answered again %v after the node stopped", time.Since(stopped))
	for round := range 3 {
		for i, g := range ingresses {
			if err := roundTrip(g, fmt.Sprintf("after, round %d, ingress %d", round, i+1)); err != nil {
				t.Errorf("ingress %d, round %d: %v", i+1, round, err)
			}
		}
	}
}
