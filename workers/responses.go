package workers

import (
	"context"
	"errors"
	"strings"

	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/workers/respstore"
)

// Stored responses (OpenAI Responses API). The worker is where they are
// handled: it already reads the request body and does the I/O, and it sees
// the answer's bytes exactly as the client gets them, in the Responses
// format whatever the upstream spoke. Before conversion, a request naming
// previous_response_id gets the stored conversation put in front of its
// input; after it, the final response object is stored with the input it
// answered, before the last bytes go out, so that a client sending its
// follow-up the moment it has the answer finds it stored.

// servesResponses reports whether the gateway takes Responses API requests:
// on a route of that format, or at <base>/responses, which the ingress
// serves beside an OpenAI Chat route's /chat/completions. The store is only
// opened for a configuration that does.
func servesResponses(cfg config.Config) bool {
	for _, r := range cfg.Routes {
		switch format.Format(r.InputFormat) {
		case format.OpenAIResponses:
			return true
		case format.OpenAIChat:
			if strings.HasSuffix(r.Path, "/chat/completions") {
				return true
			}
		}
	}
	return false
}

// storedCall is what a request that asked to be stored carries until its
// answer is complete.
type storedCall struct {
	// input is every input item the answer responds to, the stored
	// conversation before it included.
	input []byte
	saved bool
}

// continueStored applies the store to a Responses request: it puts the
// conversation of previous_response_id before the request's input, and
// remembers the input to store with the answer when the request asks for
// it. Other requests, and every request with the store off, pass as they
// are.
func (c *call) continueStored(ctx context.Context, body []byte) ([]byte, *converter.Error) {
	store := c.p.svc.responses
	if store == nil || c.client != format.OpenAIResponses {
		return body, nil
	}
	st, err := converter.InspectResponsesState(body)
	if err != nil {
		return nil, asConverterError(err)
	}
	if st.PreviousResponseID != "" {
		entry, err := store.Load(ctx, c.req.Scope, st.PreviousResponseID)
		if errors.Is(err, respstore.ErrNotFound) {
			e := converter.Errorf(converter.KindNotFound, "Previous response with id '%s' not found.", st.PreviousResponseID)
			e.Param, e.Code = "previous_response_id", "previous_response_not_found"
			return nil, e
		}
		if err != nil {
			c.log().Warn("reading a stored response failed", "err", err)
			return nil, converter.Errorf(converter.KindUnavailable, "stored responses cannot be read right now")
		}
		history, err := converter.ResponsesConversation(entry.Input, entry.Response)
		if err != nil {
			c.log().Error("a stored response cannot be continued", "err", err)
			return nil, converter.Errorf(converter.KindInternal, "the stored response %s cannot be continued", st.PreviousResponseID)
		}
		if body, err = converter.ContinueResponses(body, history); err != nil {
			return nil, asConverterError(err)
		}
	}
	if st.Store {
		input, err := converter.ResponsesInputItems(body)
		if err != nil {
			return nil, asConverterError(err)
		}
		c.stored = &storedCall{input: input}
	}
	return body, nil
}

// storeAnswer stores the response in bytes about to be sent to the client:
// a whole JSON answer, or a stream's chunk holding its last events. It does
// nothing unless the request asked for storing, and once a response is
// stored. A failure to store costs the follow-ups, not this answer: it is
// logged and the answer goes out.
func (c *call) storeAnswer(ctx context.Context, out []byte, streamed bool) {
	if c.stored == nil || c.stored.saved {
		return
	}
	var response []byte
	var id string
	var ok bool
	if streamed {
		response, id, ok = converter.FinalResponse(out)
	} else {
		response = out
		id, ok = converter.ResponseID(out)
	}
	if !ok {
		return
	}
	c.stored.saved = true
	err := c.p.svc.responses.Save(ctx, c.req.Scope, id, respstore.Entry{Response: response, Input: c.stored.input})
	c.stored.input = nil
	switch {
	case err == nil:
	case errors.Is(err, respstore.ErrTooLarge):
		c.log().Warn("response not stored: the conversation is larger than responses.max_item_bytes", "response_id", id, "err", err)
	default:
		c.log().Warn("storing a response failed", "response_id", id, "err", err)
	}
}
