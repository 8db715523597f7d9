package bus

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestFramesRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		kind    FrameKind
		seq     uint64
		payload []byte
	}{
		{"accept", FrameAccept, 1, []byte("_GW.ctl.worker.req")},
		{"head", FrameHead, 2, AppendHead(nil, Head{Status: 200, Headers: []Header{{"Content-Type", "text/event-stream"}}})},
		{"empty data", FrameData, 3, nil},
		{"large data", FrameData, 1 << 40, bytes.Repeat([]byte("x"), 70000)},
		{"heartbeat", FrameHeartbeat, 7, nil},
		{"end", FrameEnd, 8, AppendUsage(nil, Usage{InputTokens: 1, OutputTokens: 2})},
		{"error", FrameError, 9, AppendError(nil, 503, []byte(`{"error":{}}`))},
	}
	// All frames in one message, as a coalesced burst is sent.
	var msg []byte
	for _, tc := range cases {
		msg = AppendFrame(msg, tc.kind, tc.seq, tc.payload)
	}
	rest := msg
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, next, err := NextFrame(rest)
			if err != nil {
				t.Fatalf("NextFrame: %v", err)
			}
			if f.Kind != tc.kind || f.Seq != tc.seq || !bytes.Equal(f.Payload, tc.payload) {
				t.Errorf("got kind %q seq %d payload %d bytes, want %q %d %d bytes", f.Kind, f.Seq, len(f.Payload), tc.kind, tc.seq, len(tc.payload))
			}
			if cap(f.Payload) != len(f.Payload) {
				t.Error("payload capacity reaches into the next frame; an append would overwrite it")
			}
			rest = next
		})
	}
	if len(rest) != 0 {
		t.Errorf("%d bytes left after the last frame", len(rest))
	}
}

func TestNextFrameRejects(t *testing.T) {
	valid := AppendFrame(nil, FrameData, 5, []byte("hello"))
	cases := []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"unknown kind", []byte{'Z', 1, 0}},
		{"no sequence", []byte{'D'}},
		{"unterminated sequence", []byte{'D', 0x80}},
		{"no length", []byte{'D', 1}},
		{"length past the end", valid[:len(valid)-1]},
		{"huge length", []byte{'D', 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := NextFrame(tc.msg); !errors.Is(err, ErrMalformedFrame) {
				t.Errorf("err = %v, want ErrMalformedFrame", err)
			}
		})
	}
}

func TestHeadRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		head Head
	}{
		{"no headers", Head{Status: 204, Headers: []Header{}}},
		{"several", Head{Status: 429, Headers: []Header{{"Retry-After", "1"}, {"X-Request-Id", "req_1"}, {"Empty", ""}}}},
		{"unicode value", Head{Status: 200, Headers: []Header{{"X-Note", "héllo"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeHead(AppendHead(nil, tc.head))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.head) {
				t.Errorf("got %+v, want %+v", got, tc.head)
			}
		})
	}
}

func TestDecodeHeadRejects(t *testing.T) {
	valid := AppendHead(nil, Head{Status: 200, Headers: []Header{{"A", "b"}}})
	cases := []struct {
		name string
		p    []byte
	}{
		{"empty", nil},
		{"status below 100", AppendHead(nil, Head{Status: 99})},
		{"status above 999", AppendHead(nil, Head{Status: 1000})},
		{"header count past the end", []byte{200, 1, 9}},
		{"truncated value", valid[:len(valid)-1]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeHead(tc.p); !errors.Is(err, ErrMalformedFrame) {
				t.Errorf("err = %v, want ErrMalformedFrame", err)
			}
		})
	}
}

func TestUsageAndErrorPayloads(t *testing.T) {
	cases := []struct {
		name string
		in   Usage
		want Usage
	}{
		{"zero", Usage{}, Usage{}},
		{"all set", Usage{1, 2, 3, 4}, Usage{1, 2, 3, 4}},
		{"negative counts as zero", Usage{InputTokens: -5, OutputTokens: 7}, Usage{OutputTokens: 7}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeUsage(AppendUsage(nil, tc.in))
			if err != nil || got != tc.want {
				t.Errorf("got %+v (%v), want %+v", got, err, tc.want)
			}
		})
	}
	if u, err := DecodeUsage(nil); err != nil || u != (Usage{}) {
		t.Errorf("empty usage payload: %+v, %v", u, err)
	}
	status, body, err := DecodeError(AppendError(nil, 529, []byte(`{"type":"error"}`)))
	if err != nil || status != 529 || string(body) != `{"type":"error"}` {
		t.Errorf("error payload: %d %s %v", status, body, err)
	}
	if _, _, err := DecodeError([]byte{42}); !errors.Is(err, ErrMalformedFrame) {
		t.Errorf("status 42: err = %v", err)
	}
}

func sampleRequest() *Request {
	return &Request{
		ID:              "4f7Yk2",
		ClientRequestID: "req_abc",
		Reply:           "_GW.reply.ingress.4f7Yk2",
		Route:           "/v1/chat/completions",
		Upstream:        "openai",
		Model:           "gpt-4o",
		Stream:          true,
		IncludeUsage:    true,
		Deadline:        1_800_000_000_000_000_000,
		Enqueued:        1_799_999_999_000_000_000,
		Headers:         []Header{{"openai-organization", "org-1"}, {"openai-project", ""}},
		Scope:           "5f0c2a9e41b7d3c8",
		Body:            []byte(`{"model":"gpt-4o","messages":[]}`),
		BodySize:        len(`{"model":"gpt-4o","messages":[]}`),
	}
}

func TestRequestRoundTrip(t *testing.T) {
	chunked := sampleRequest()
	chunked.BodySubject, chunked.Body, chunked.BodySize = "_GW.body.ingress.4f7Yk2", nil, 20<<20
	bare := &Request{ID: "x", Reply: "r", BodySize: 0}
	cases := []struct {
		name string
		req  *Request
	}{
		{"inline body", sampleRequest()},
		{"chunked body", chunked},
		{"minimal", bare},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest(AppendRequest(nil, tc.req))
			if err != nil {
				t.Fatal(err)
			}
			want := *tc.req
			want.Version = EnvelopeVersion // 0 encodes the current version
			if len(want.Body) == 0 {
				want.Body = got.Body // nil and empty mean the same
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got %+v\nwant %+v", *got, want)
			}
		})
	}
	if v := sampleRequest().Header("openai-organization"); v != "org-1" {
		t.Errorf("Header = %q", v)
	}
	if v := sampleRequest().Header("absent"); v != "" {
		t.Errorf("Header of an absent name = %q", v)
	}
}

func TestDecodeRequestRejects(t *testing.T) {
	valid := AppendRequest(nil, sampleRequest())
	// Every strict prefix of an envelope with an inline body is malformed:
	// either a field is cut or the body is shorter than announced.
	for n := range len(valid) {
		if _, err := DecodeRequest(valid[:n]); !errors.Is(err, ErrMalformedFrame) {
			t.Fatalf("prefix of %d bytes: err = %v, want ErrMalformedFrame", n, err)
		}
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"unknown version", append([]byte{99}, valid[1:]...)},
		{"body longer than announced", append(bytes.Clone(valid), 'x')},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeRequest(tc.data); !errors.Is(err, ErrMalformedFrame) {
				t.Errorf("err = %v, want ErrMalformedFrame", err)
			}
		})
	}
}

func FuzzNextFrame(f *testing.F) {
	f.Add(AppendFrame(AppendFrame(nil, FrameAccept, 1, []byte("ctl")), FrameData, 2, []byte("data: {}\n\n")))
	f.Add(AppendFrame(nil, FrameEnd, 3, AppendUsage(nil, Usage{1, 2, 3, 4})))
	f.Add([]byte{'D', 0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		rest := msg
		for len(rest) > 0 {
			fr, next, err := NextFrame(rest)
			if err != nil {
				if !errors.Is(err, ErrMalformedFrame) {
					t.Fatalf("error not marked malformed: %v", err)
				}
				return
			}
			if len(next) >= len(rest) {
				t.Fatal("NextFrame made no progress")
			}
			// A decoded frame re-encodes to a frame that decodes the same.
			again, left, err := NextFrame(AppendFrame(nil, fr.Kind, fr.Seq, fr.Payload))
			if err != nil || len(left) != 0 || again.Kind != fr.Kind || again.Seq != fr.Seq || !bytes.Equal(again.Payload, fr.Payload) {
				t.Fatalf("frame %+v does not survive a round trip: %+v, %v", fr, again, err)
			}
			rest = next
		}
	})
}

func FuzzDecodeHead(f *testing.F) {
	f.Add(AppendHead(nil, Head{Status: 200, Headers: []Header{{"Content-Type", "application/json"}}}))
	f.Add(AppendHead(nil, Head{Status: 529}))
	f.Add([]byte{0xc8, 0x01, 0x05})
	f.Fuzz(func(t *testing.T, p []byte) {
		h, err := DecodeHead(p)
		if err != nil {
			if !errors.Is(err, ErrMalformedFrame) {
				t.Fatalf("error not marked malformed: %v", err)
			}
			return
		}
		if h.Status < 100 || h.Status > 999 {
			t.Fatalf("accepted status %d", h.Status)
		}
		again, err := DecodeHead(AppendHead(nil, h))
		if err != nil || !reflect.DeepEqual(again, h) {
			t.Fatalf("head %+v does not survive a round trip: %+v, %v", h, again, err)
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(AppendRequest(nil, sampleRequest()))
	chunked := sampleRequest()
	chunked.BodySubject, chunked.Body = "_GW.body.i.x", nil
	f.Add(AppendRequest(nil, chunked))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedFrame) {
				t.Fatalf("error not marked malformed: %v", err)
			}
			return
		}
		if r.BodySubject == "" && len(r.Body) != r.BodySize {
			t.Fatalf("inline body of %d bytes, envelope says %d", len(r.Body), r.BodySize)
		}
		again, err := DecodeRequest(AppendRequest(nil, r))
		if err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
		if len(r.Body) == 0 {
			again.Body = r.Body
		}
		if len(r.Headers) == 0 {
			again.Headers = r.Headers
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("envelope does not survive a round trip:\n%+v\n%+v", r, again)
		}
	})
}
