package converter

import "testing"

func TestThinkingStateRoundTrip(t *testing.T) {
	tests := []thinkingState{
		{Type: "thinking", Thinking: "Let me add 2 and 2.\n", Signature: "EqQBCkYIBxgCKkB"},
		{Type: "thinking", Signature: "sig-only"},
		{Type: "redacted_thinking", Data: "EmwKAhgBEgy3va3pzix/LafPsn4a"},
	}
	for _, want := range tests {
		enc := encodeThinkingState(want)
		got, ok := decodeThinkingState(enc)
		if !ok || got != want {
			t.Errorf("decodeThinkingState(encodeThinkingState(%+v)) = %+v, %v", want, got, ok)
		}
	}
}

func TestDecodeThinkingStateRefusesOtherContent(t *testing.T) {
	for _, s := range []string{
		"",
		"gAAAAABoQ0J2-openai-encrypted",
		thinkingStatePrefix + "!!!",
		thinkingStatePrefix + "eyJ0eXBlIjoidGV4dCJ9", // {"type":"text"}
	} {
		if st, ok := decodeThinkingState(s); ok {
			t.Errorf("decodeThinkingState(%q) = %+v, true; want false", s, st)
		}
	}
}

func FuzzDecodeThinkingState(f *testing.F) {
	f.Add(encodeThinkingState(thinkingState{Type: "thinking", Thinking: "x", Signature: "y"}))
	f.Add("gAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		st, ok := decodeThinkingState(s)
		if !ok {
			return
		}
		again, ok := decodeThinkingState(encodeThinkingState(st))
		if !ok || again != st {
			t.Fatalf("state %+v does not survive a second round trip: %+v, %v", st, again, ok)
		}
	})
}
