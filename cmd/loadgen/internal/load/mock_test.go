package load

import (
	"testing"

	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

// TestRunAgainstMockUpstream drives the project's mock upstream, which
// validates requests strictly the way the providers do: every request the
// load generator builds must be accepted and every answer seen as complete.
func TestRunAgainstMockUpstream(t *testing.T) {
	srv := mock.New(mock.DefaultConfig())
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start mock: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	tests := []struct {
		name   string
		shape  Shape
		stream bool
	}{
		{"openai json", ShapeOpenAI, false},
		{"openai stream", ShapeOpenAI, true},
		{"anthropic json", ShapeAnthropic, false},
		{"anthropic stream", ShapeAnthropic, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := runLoad(t, testConfig(srv.URL(), tt.shape, tt.stream, ClientFastHTTP))
			if rep.OK == 0 || rep.OK != rep.Requests {
				t.Fatalf("ok %d of %d (by status %v, by kind %v, incomplete %d)",
					rep.OK, rep.Requests, rep.ErrorsByStatus, rep.ErrorsByKind, rep.Incomplete)
			}
			// A streamed answer has more than its closing event.
			if tt.stream && rep.Events.P50 < 3 {
				t.Errorf("events per response %+v: too few for %d chunks", *rep.Events, mock.DefaultChunks)
			}
		})
	}
}
