package bus

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/aigateway/gateway/converter/jsonx"
)

// appendRequestV1 encodes r exactly as releases before envelope versioning
// did, so the tests can play the older ingress.
func appendRequestV1(dst []byte, r *Request) []byte {
	dst = append(dst, 1)
	for _, s := range [...]string{r.ID, r.ClientRequestID, r.Reply, r.Route, r.Upstream, r.Model, r.BodySubject} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	var flags byte
	if r.Stream {
		flags |= 1
	}
	if r.IncludeUsage {
		flags |= 2
	}
	dst = append(dst, flags)
	dst = binary.AppendVarint(dst, r.Deadline)
	dst = binary.AppendVarint(dst, r.Enqueued)
	dst = binary.AppendUvarint(dst, uint64(r.BodySize))
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = binary.AppendUvarint(dst, uint64(len(h.Name)))
		dst = append(dst, h.Name...)
		dst = binary.AppendUvarint(dst, uint64(len(h.Value)))
		dst = append(dst, h.Value...)
	}
	return append(dst, r.Body...)
}

func TestEnvelopeVersions(t *testing.T) {
	v2 := sampleRequest()
	v2.UpstreamModel, v2.Attempt = "claude-sonnet-4-5", 2
	cases := []struct {
		name     string
		data     []byte
		want     func() Request
		typedErr bool
	}{
		{"an old ingress's request", appendRequestV1(nil, sampleRequest()), func() Request {
			r := *sampleRequest()
			r.Version = EnvelopeV1
			r.Scope = "" // a version-2 field
			return r
		}, false},
		{"version 1 encoded by this build", AppendRequest(nil, &Request{Version: EnvelopeV1, ID: "x", Reply: "r", UpstreamModel: "dropped", Attempt: 3}), func() Request {
			return Request{Version: EnvelopeV1, ID: "x", Reply: "r"}
		}, false},
		{"version 2", AppendRequest(nil, v2), func() Request {
			r := *v2
			r.Version = EnvelopeV2
			return r
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want()
			if len(want.Body) == 0 {
				want.Body = got.Body
			}
			if len(want.Headers) == 0 {
				want.Headers = got.Headers
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got %+v\nwant %+v", *got, want)
			}
			if got.TypedFailures() != tc.typedErr {
				t.Errorf("TypedFailures = %v, want %v", got.TypedFailures(), tc.typedErr)
			}
		})
	}
	t.Run("version 1 is what an old worker decodes", func(t *testing.T) {
		// An old worker refused any version byte but 1 and read the v1
		// layout to the end: this build's version-1 encoding is that.
		r := sampleRequest()
		r.Version = EnvelopeV1
		r.UpstreamModel = "ignored"
		if got, want := AppendRequest(nil, r), appendRequestV1(nil, sampleRequest()); string(got) != string(want) {
			t.Errorf("version 1 encoding differs from the old layout:\n%q\n%q", got, want)
		}
	})
	t.Run("a version from the future is refused", func(t *testing.T) {
		data := AppendRequest(nil, sampleRequest())
		data[0] = EnvelopeVersion + 1
		if _, err := DecodeRequest(data); !errors.Is(err, ErrMalformedFrame) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestFailureRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		f    Failure
	}{
		{"upstream status", Failure{
			Kind: FailUpstreamStatus, Retryable: true, Status: 429, RetryAfter: 1500 * time.Millisecond,
			UpstreamFormat: "anthropic", UpstreamRequestID: "req_1",
			Headers: []Header{{"Content-Type", "application/json"}, {"retry-after", "2"}},
			Body:    []byte(`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`),
		}},
		{"gateway", Failure{Kind: FailGateway, Code: 1, Message: "bad tool", Param: "tools"}},
		{"gateway with its own code", Failure{Kind: FailGateway, Code: 1, Message: "no such response", Param: "previous_response_id", ErrorCode: "previous_response_not_found"}},
		{"connect", Failure{Kind: FailConnect, Retryable: true, Code: 14, Message: "upstream x could not be reached"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeFailure(AppendFailure(nil, &tc.f))
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.f.Body) == 0 {
				got.Body = nil
			}
			if !reflect.DeepEqual(got, tc.f) {
				t.Errorf("got %+v\nwant %+v", got, tc.f)
			}
		})
	}
	for _, bad := range [][]byte{nil, {9, 0, 0, 0, 0}, {byte(FailUpstreamStatus), 1, 0, 42}} {
		if _, err := DecodeFailure(bad); !errors.Is(err, ErrMalformedFrame) {
			t.Errorf("DecodeFailure(%v) = %v, want ErrMalformedFrame", bad, err)
		}
	}
}

func FuzzDecodeFailure(f *testing.F) {
	f.Add(AppendFailure(nil, &Failure{Kind: FailUpstreamStatus, Status: 503, Headers: []Header{{"a", "b"}}, Body: []byte("x")}))
	f.Add(AppendFailure(nil, &Failure{Kind: FailGateway, Message: "m"}))
	f.Fuzz(func(t *testing.T, p []byte) {
		got, err := DecodeFailure(p)
		if err != nil {
			if !errors.Is(err, ErrMalformedFrame) {
				t.Fatalf("error not marked malformed: %v", err)
			}
			return
		}
		again, err := DecodeFailure(AppendFailure(nil, &got))
		if err != nil {
			t.Fatalf("re-encoded failure does not decode: %v", err)
		}
		if len(got.Body) == 0 {
			again.Body = got.Body
		}
		if !reflect.DeepEqual(again, got) {
			t.Fatalf("failure %+v does not survive a round trip: %+v", got, again)
		}
	})
}

func TestRegistryEnvelopeAndLoad(t *testing.T) {
	now := time.Unix(1000, 0)
	r := &Registry{now: func() time.Time { return now }, seen: make(map[string]map[string]workerState)}
	announce := func(p Presence) {
		data, err := jsonx.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		r.handle(&nats.Msg{Data: data})
	}
	if v := r.Envelope("openai"); v != EnvelopeV1 {
		t.Errorf("no workers: envelope %d, want %d", v, EnvelopeV1)
	}
	announce(Presence{Worker: "new", Envelope: EnvelopeVersion, Upstreams: map[string]PoolState{"openai": {Capacity: 8, Busy: 3}}})
	if v := r.Envelope("openai"); v != EnvelopeVersion {
		t.Errorf("new workers only: envelope %d", v)
	}
	// A worker from before versioning announces no envelope.
	announce(Presence{Worker: "old", Upstreams: map[string]PoolState{"openai": {Capacity: 4, Busy: 4}}})
	if v := r.Envelope("openai"); v != EnvelopeV1 {
		t.Errorf("with an old worker: envelope %d, want %d", v, EnvelopeV1)
	}
	if c, b := r.Load("openai"); c != 12 || b != 7 {
		t.Errorf("Load = %d, %d; want 12, 7", c, b)
	}
	announce(Presence{Worker: "old", Leaving: true})
	if v := r.Envelope("openai"); v != EnvelopeVersion {
		t.Errorf("after the old worker left: envelope %d", v)
	}
	now = now.Add(10 * PresenceInterval)
	if c, _ := r.Load("openai"); c != 0 {
		t.Errorf("silent workers still counted: capacity %d", c)
	}
}

func TestRegistrySilentWorkers(t *testing.T) {
	now := time.Unix(1000, 0)
	r := &Registry{now: func() time.Time { return now }, seen: make(map[string]map[string]workerState)}
	announce := func(p Presence) {
		data, err := jsonx.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		r.handle(&nats.Msg{Data: data})
	}
	announce(Presence{Worker: "a", Upstreams: map[string]PoolState{"openai": {Capacity: 8}}})
	announce(Presence{Worker: "b", Upstreams: map[string]PoolState{"openai": {Capacity: 8}}})
	if w, s := r.Workers("openai"), r.Silent("openai"); w != 2 || s != 0 {
		t.Fatalf("announced: %d live, %d silent; want 2, 0", w, s)
	}
	now = now.Add(3 * PresenceInterval)
	announce(Presence{Worker: "a", Upstreams: map[string]PoolState{"openai": {Capacity: 8}}})
	if w, s := r.Workers("openai"), r.Silent("openai"); w != 1 || s != 1 {
		t.Fatalf("one late: %d live, %d silent; want 1, 1", w, s)
	}
	// A worker that says it leaves is neither.
	announce(Presence{Worker: "a", Leaving: true})
	announce(Presence{Worker: "b", Leaving: true})
	if w, s := r.Workers("openai"), r.Silent("openai"); w != 0 || s != 0 {
		t.Fatalf("left: %d live, %d silent; want 0, 0", w, s)
	}
}
