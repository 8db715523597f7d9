package converter

import (
	"testing"

	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/sse"
)

// runStream feeds input to a new Stream event by event, as a worker does, and
// returns everything the client receives, Finish included.
func runStream(t testing.TB, from, to format.Format, opts StreamOptions, input []byte) []byte {
	t.Helper()
	out, err := feedStream(NewStream(from, to, opts), input)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	return out
}

// feedStream runs input through s and returns the output; on an event error
// it stops there, like a worker, ending the stream with Fail.
func feedStream(s *Stream, input []byte) ([]byte, error) {
	var out, scratch []byte
	for len(input) > 0 {
		ev, n, ok, sc := sse.Parse(input, true, scratch)
		scratch = sc
		if !ok || n == 0 {
			break
		}
		input = input[n:]
		var err error
		out, err = s.Event(out, ev)
		if err != nil {
			e, _ := err.(*Error)
			if e == nil {
				e = Errorf(KindStreamInterrupted, "%v", err)
			}
			return s.Fail(out, e), err
		}
	}
	return s.Finish(out), nil
}
