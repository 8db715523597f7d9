package config

import "time"

// Responses configures the store of the OpenAI Responses API: the answers
// kept for GET /v1/responses/{id} and for follow-ups that name them in
// previous_response_id.
type Responses struct {
	// Store keeps the answers of Responses requests that ask for it
	// ("store": true, the API's default). Off, nothing is kept, and
	// previous_response_id is left in the request for the upstream.
	Store bool `toml:"store"`
	// StoreTTL is how long a stored response is kept after it was written.
	StoreTTL Duration `toml:"store_ttl"`
	// MaxItemBytes bounds one stored entry: the response with every input
	// item of its conversation. A larger one is not kept, and a follow-up
	// naming it gets 404. Left at 0 in a file, it is DefaultResponsesMaxItem
	// or, when smaller, what a bus message holds.
	MaxItemBytes int `toml:"max_item_bytes"`
}

// Defaults of [responses].
const (
	// DefaultResponsesTTL is OpenAI's retention of stored responses, so
	// clients written against the API find theirs for as long.
	DefaultResponsesTTL = 30 * 24 * time.Hour
	// DefaultResponsesMaxItem leaves room under the default bus.max_payload
	// (8 MiB) and holds a long agent conversation.
	DefaultResponsesMaxItem = 4 << 20
	// responsesEntryOverhead is what a stored entry needs in a bus message
	// beside its value: subject, headers, JetStream metadata.
	responsesEntryOverhead = 64 << 10
)

// DefaultResponses returns the [responses] defaults: storing on.
func DefaultResponses() Responses {
	return Responses{
		Store:        true,
		StoreTTL:     Duration{DefaultResponsesTTL},
		MaxItemBytes: DefaultResponsesMaxItem,
	}
}

// applyDefaults fills what was left out. The size limit left out follows a
// bus.max_payload set below the default, so that lowering the one does not
// make the other invalid; only a limit written down is checked against it.
func (r *Responses) applyDefaults(maxPayload int) {
	d := DefaultResponses()
	fill(&r.StoreTTL, d.StoreTTL)
	if r.MaxItemBytes == 0 {
		r.MaxItemBytes = d.MaxItemBytes
		if limit := maxPayload - responsesEntryOverhead; limit > 0 && limit < r.MaxItemBytes {
			r.MaxItemBytes = limit
		}
	}
}

func (v *validator) responses() {
	r := v.c.Responses
	v.positiveDuration("responses.store_ttl", r.StoreTTL)
	if r.StoreTTL.Duration > 0 && r.StoreTTL.Duration < time.Second {
		// JetStream keeps ages in whole seconds at best; below that an
		// entry would expire before a client could read it.
		v.fail("responses.store_ttl", "%s is below 1s", r.StoreTTL.Duration)
	}
	// 0 is the default, for a Config built in code without ApplyDefaults.
	v.nonNegative("responses.max_item_bytes", int64(r.MaxItemBytes))
	if limit := v.c.Bus.MaxPayload - responsesEntryOverhead; r.MaxItemBytes > 0 && v.c.Bus.MaxPayload > 0 && r.MaxItemBytes > limit {
		v.fail("responses.max_item_bytes", "%d does not fit in a bus message: at most bus.max_payload minus 64 KiB (%d)", r.MaxItemBytes, limit)
	}
}
