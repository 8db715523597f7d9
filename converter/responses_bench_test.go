package converter

import "testing"

// BenchmarkResponsesStream measures the Responses stream translators per
// upstream event. The Responses input is the Anthropic benchmark stream as
// the Anthropic → Responses translator writes it.
func BenchmarkResponsesStream(b *testing.B) {
	anth := benchAnthropicStream()
	resp, _ := feedTranslator(newAnthropicToResponsesStream(StreamOptions{}), anth)
	tests := []struct {
		name string
		in   []byte
		make func() eventTranslator
	}{
		{"anthropic_to_responses", anth, func() eventTranslator { return newAnthropicToResponsesStream(StreamOptions{}) }},
		{"responses_to_anthropic", resp, func() eventTranslator { return newResponsesToAnthropicStream(StreamOptions{}) }},
		{"responses_passthrough", resp, func() eventTranslator { return newResponsesPassStream(StreamOptions{}) }},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			evs := splitEvents(b, tt.in)
			dst := make([]byte, 0, 256<<10)
			b.ReportAllocs()
			b.SetBytes(int64(len(tt.in)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tr := tt.make()
				out := dst[:0]
				for _, ev := range evs {
					var err error
					if out, err = tr.event(out, ev); err != nil {
						b.Fatal(err)
					}
				}
				if !tr.done() {
					b.Fatal("stream not done")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
			b.ReportMetric(float64(len(evs)), "events")
		})
	}
}

func BenchmarkResponsesResponse(b *testing.B) {
	anth := []byte(`{"id":"msg_01Bench","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[` +
		`{"type":"text","text":"I'll look up the weather in Paris and report back with the details you asked for."},` +
		`{"type":"tool_use","id":"toolu_01Bench","name":"get_weather","input":{"city":"Paris","units":"celsius","days":3}}],` +
		`"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":412,"cache_creation_input_tokens":0,"cache_read_input_tokens":1024,"output_tokens":87}}`)
	resp, _, err := anthropicToResponsesResponse(anth, ResponseOptions{})
	if err != nil {
		b.Fatal(err)
	}
	tests := []struct {
		name string
		run  func() error
		n    int
	}{
		{"anthropic_to_responses", func() error { _, _, err := anthropicToResponsesResponse(anth, ResponseOptions{}); return err }, len(anth)},
		{"responses_to_anthropic", func() error { _, _, err := responsesToAnthropicResponse(resp, ResponseOptions{}); return err }, len(resp)},
		{"responses_passthrough_model_patched", func() error {
			_, _, err := forwardResponsesResponse(resp, ResponseOptions{Model: "alias"})
			return err
		}, len(resp)},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(tt.n))
			for i := 0; i < b.N; i++ {
				if err := tt.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
