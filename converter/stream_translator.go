package converter

import "github.com/aigateway/gateway/converter/sse"

// eventTranslator is one direction of stream translation. converter.Stream around it
// keeps the started/done bookkeeping, joins split surrogate pairs, and applies the
// end-of-stream rules (no answer → error; no finish reason → error).
type eventTranslator interface {
	event(dst []byte, ev sse.Event) ([]byte, error) // client bytes for one upstream event; an upstream error event becomes the client's terminal error event
	close(dst []byte) []byte                        // closing events at upstream EOF, called only when sawFinish()
	fail(dst []byte, e *Error) []byte               // the client's terminal error event for e
	sawFinish() bool                                // the upstream gave a finish / stop reason
	usage() Usage                                   // tokens so far
	done() bool                                     // the client's terminal event was written
}
