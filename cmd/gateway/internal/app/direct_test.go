package app

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

// directClient is an OpenAI client of g that never retries, so that every
// request the test sends is one request through the gateway.
func directClient(g *gateway) openai.Client {
	return openai.NewClient(option.WithBaseURL(g.url+"/v1/"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
}

// chatWithMarker sends a chat request whose prompt is marker and checks the
// answer.
func chatWithMarker(t *testing.T, c openai.Client, marker string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(marker)},
	})
	if err != nil {
		t.Errorf("request %s: %v", marker, err)
		return
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == "" {
		t.Errorf("request %s: answer %+v", marker, resp)
	}
}

// upstreamCalls counts, by marker, the calls the mock received whose body
// holds it.
func upstreamCalls(m *mock.Server, markers []string) map[string]int {
	calls := make(map[string]int, len(markers))
	for _, r := range m.Requests() {
		for _, marker := range markers {
			if strings.Contains(string(r.Body), `"`+marker+`"`) {
				calls[marker]++
			}
		}
	}
	return calls
}

func offers(t *testing.T, g *gateway, outcome string) float64 {
	t.Helper()
	return accessSeries(t, g.metricsText(t), `gateway_direct_offers_total{outcome="`+outcome+`",upstream="openai"}`)
}

func TestIdleWorkersTakeRequestsDirectly(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), "", nil)
	c := directClient(g)
	for i := range 5 {
		chatWithMarker(t, c, fmt.Sprintf("direct-%d", i))
	}
	if taken := offers(t, g, bus.OfferTaken); taken != 5 {
		t.Errorf("%v offers taken, want all 5 requests", taken)
	}
	if declined := offers(t, g, bus.OfferDeclined); declined != 0 {
		t.Errorf("%v offers declined by an idle worker", declined)
	}
}

func TestQueueOnlySendsEveryRequestThroughTheQueue(t *testing.T) {
	g := startGateway(t, mock.DefaultConfig(), "", map[string]string{"GATEWAY_BUS_QUEUE_ONLY": "true"})
	c := directClient(g)
	for i := range 3 {
		chatWithMarker(t, c, fmt.Sprintf("queued-%d", i))
	}
	text := g.metricsText(t)
	if strings.Contains(text, "gateway_direct_offers_total{") {
		t.Errorf("offers were made with queue_only set:\n%s", grepLines(text, "gateway_direct_offers_total"))
	}
}

// A worker whose slots are all busy declines offers, and the queue serves
// them once slots free up: every request is answered, each upstream call
// made once.
func TestDeclinedOffersAreQueued(t *testing.T) {
	cfg := mock.DefaultConfig()
	cfg.Latency = 300 * time.Millisecond
	// Two slots for the openai upstream: one watches the queue, one takes
	// offers.
	g := startGateway(t, cfg, "", map[string]string{"GATEWAY_UPSTREAMS_OPENAI_CONCURRENCY": "2"})
	c := directClient(g)
	markers := make([]string, 6)
	var wg sync.WaitGroup
	for i := range markers {
		markers[i] = fmt.Sprintf("busy-%d", i)
		wg.Go(func() { chatWithMarker(t, c, markers[i]) })
	}
	wg.Wait()
	for _, marker := range markers {
		if n := upstreamCalls(g.mock, markers)[marker]; n != 1 {
			t.Errorf("request %s reached the upstream %d times, want once", marker, n)
		}
	}
	if declined := offers(t, g, bus.OfferDeclined); declined == 0 {
		t.Error("no offer was declined by a worker with every slot busy")
	}
}

// A worker that receives an offer and dies before it answers must not cost
// the request, nor have it served twice: the ingress waits out the offer's
// deadline, then queues the request under a new id, and the worker that
// lives serves it once. Ingress and worker are separate processes here, so
// that offers travel over NATS, where a doomed worker can be given them.
func TestAnOfferLostWithItsWorkerIsQueued(t *testing.T) {
	node := startNATSNode(t)
	m := startMock(t, mock.DefaultConfig())
	env := map[string]string{"GATEWAY_BUS_MODE": "external", "GATEWAY_BUS_URL": node.url()}
	startProc(t, ModeWorker, m.URL(), m.URL(), "", env)
	p := startProc(t, ModeIngress, m.URL(), m.URL(), "", env)
	g := &gateway{t: t, url: p.url, app: p.app, mock: m, logs: p.logs}
	nc, err := nats.Connect(node.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// The doomed worker joins the openai workers' queue group on the
	// direct subject and swallows whatever it is given, as a worker that
	// dies with an offer in hand does. NATS spreads offers at random over
	// the group, so it gets about half of them.
	var swallowed atomic.Int32
	sub, err := bus.ListenDirect(nc, "openai", func(*nats.Msg) { swallowed.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := directClient(g)
	var markers []string
	for i := 0; swallowed.Load() < 3 && i < 60; i++ {
		marker := fmt.Sprintf("lost-%d", i)
		markers = append(markers, marker)
		chatWithMarker(t, c, marker)
	}
	if swallowed.Load() < 3 {
		t.Fatalf("the doomed worker got %d offers of %d", swallowed.Load(), len(markers))
	}
	// The worker is gone for good now.
	_ = sub.Unsubscribe()
	nc.Close()
	more := fmt.Sprintf("after-%d", len(markers))
	markers = append(markers, more)
	chatWithMarker(t, c, more)
	calls := upstreamCalls(m, markers)
	for _, marker := range markers {
		if calls[marker] != 1 {
			t.Errorf("request %s reached the upstream %d times, want once", marker, calls[marker])
		}
	}
}
