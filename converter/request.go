package converter

import (
	"errors"

	"github.com/aigateway/gateway/converter/format"
)

// DefaultMaxTokens is the max_tokens sent to Anthropic when neither the client
// nor the route gives one: Anthropic requires the field, OpenAI does not.
const DefaultMaxTokens = 4096

// RequestOptions adjusts a request on its way upstream.
type RequestOptions struct {
	// Model is the model name to send upstream; "" keeps the client's.
	Model string
	// DefaultMaxTokens is max_tokens for Anthropic targets when the client
	// gave none (0 means DefaultMaxTokens).
	DefaultMaxTokens int
	// IncludeUsage forces stream_options.include_usage=true on streamed
	// requests to OpenAI targets, so that the gateway can count tokens.
	IncludeUsage bool
	// Intermediate reports that a translation to the hub format (Anthropic
	// Messages) produces a body that is translated again, to another OpenAI
	// format, rather than sent to Anthropic: max_tokens is then left out
	// when the client gave none, and what only OpenAI formats know travels
	// in the body's x_openai object instead of being refused or dropped.
	Intermediate bool
}

func (o RequestOptions) defaultMaxTokens() int64 {
	if o.DefaultMaxTokens > 0 {
		return int64(o.DefaultMaxTokens)
	}
	return DefaultMaxTokens
}

// RequestInfo is what the ingress reads from a request before queueing it.
type RequestInfo struct {
	// Model is the model the client asked for ("" when absent).
	Model string
	// Stream reports whether the client asked for a streamed answer.
	Stream bool
	// IncludeUsage reports whether an OpenAI client set
	// stream_options.include_usage.
	IncludeUsage bool
	// MaxTokens is the requested output bound, 0 when none was given
	// (OpenAI: max_completion_tokens, else max_tokens).
	MaxTokens int64
}

// InspectRequest validates that body is a single well-formed JSON object of
// format f and reads what the ingress needs. It does not decode the messages,
// so its cost is one pass over the bytes. Errors are *Error of kind
// KindInvalidRequest, with Param set when a field is at fault.
func InspectRequest(f format.Format, body []byte) (RequestInfo, error) {
	c := codecFor(f)
	if c == nil || c.inspect == nil {
		return RequestInfo{}, Errorf(KindInternal, "unknown request format %q", f)
	}
	return c.inspect(body)
}

// inspectMessagesRequest is InspectRequest for the two formats whose
// requests carry a messages array: OpenAI Chat (chat set, which adds
// max_completion_tokens and stream_options) and Anthropic Messages.
func inspectMessagesRequest(body []byte, chat bool) (RequestInfo, error) {
	var info RequestInfo
	var maxTokens, maxCompletion int64
	sawMessages := false
	_, err := walkTopObject(body, func(m member) error {
		switch {
		case keyIs(body, m, "model"):
			s, err := inspectModel(body, m)
			if err != nil {
				return err
			}
			info.Model = s
		case keyIs(body, m, "messages"):
			if valueKind(body, m) != '[' {
				return InvalidParam("messages", "messages must be an array")
			}
			sawMessages = true
		case keyIs(body, m, "stream"):
			v, err := inspectStream(body, m)
			if err != nil {
				return err
			}
			info.Stream = v
		case keyIs(body, m, "max_tokens"):
			n, err := inspectMaxTokens(body, m, "max_tokens")
			if err != nil {
				return err
			}
			maxTokens = n
		case chat && keyIs(body, m, "max_completion_tokens"):
			n, err := inspectMaxTokens(body, m, "max_completion_tokens")
			if err != nil {
				return err
			}
			maxCompletion = n
		case chat && keyIs(body, m, "stream_options"):
			info.IncludeUsage = false
			if isNull(body, m) {
				return nil
			}
			if valueKind(body, m) != '{' {
				return InvalidParam("stream_options", "stream_options must be an object")
			}
			_, err := walkObject(body, m.valStart, 1, func(sm member) error {
				if !keyIs(body, sm, "include_usage") || isNull(body, sm) {
					return nil
				}
				v, ok := valueBool(body, sm)
				if !ok {
					return InvalidParam("stream_options.include_usage", "include_usage must be a boolean")
				}
				info.IncludeUsage = v
				return nil
			})
			return err
		}
		return nil
	})
	if err != nil {
		return RequestInfo{}, asRequestError(err)
	}
	if !sawMessages {
		return RequestInfo{}, InvalidParam("messages", "messages is required")
	}
	info.MaxTokens = maxTokens
	if maxCompletion > 0 {
		info.MaxTokens = maxCompletion
	}
	return info, nil
}

// inspectModel reads a top-level model: a string, or null for none.
func inspectModel(b []byte, m member) (string, error) {
	if isNull(b, m) {
		return "", nil
	}
	s, ok := valueString(b, m)
	if !ok {
		return "", InvalidParam("model", "model must be a string")
	}
	return s, nil
}

// inspectStream reads a top-level stream flag: a boolean, or null for false.
func inspectStream(b []byte, m member) (bool, error) {
	if isNull(b, m) {
		return false, nil
	}
	v, ok := valueBool(b, m)
	if !ok {
		return false, InvalidParam("stream", "stream must be a boolean")
	}
	return v, nil
}

func inspectMaxTokens(b []byte, m member, name string) (int64, error) {
	if isNull(b, m) {
		return 0, nil
	}
	n, ok := valueInt(b, m)
	if !ok || n < 1 {
		return 0, InvalidParam(name, "%s must be a positive integer", name)
	}
	return n, nil
}

// asRequestError turns scanner and decoder failures into the client-facing
// *Error the API promises.
func asRequestError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, errNotObject) {
		return Errorf(KindInvalidRequest, "%s", err.Error())
	}
	return Errorf(KindInvalidRequest, "the request body is not valid JSON: %s", err.Error())
}

// TranslateRequest converts a client request of format from into the upstream
// format to. When from == to it forwards the bytes, patching only what opts
// require (model rename, stream_options.include_usage, a default max_tokens
// for Anthropic) without re-encoding the rest. A pair of formats without a
// direct translation goes through the hub: the first hop produces an
// intermediate hub body (RequestOptions.Intermediate), the second the
// upstream's. Errors are *Error of kind KindInvalidRequest naming the field
// that cannot be carried over.
//
// The returned slice may alias body when nothing had to change.
func TranslateRequest(from, to format.Format, body []byte, opts RequestOptions) ([]byte, error) {
	if from == to {
		c := codecFor(from)
		if c == nil || c.patch == nil {
			return nil, noTranslation(from, to)
		}
		return c.patch(body, opts)
	}
	first, second, hops := route(from, to)
	switch hops {
	case 0:
		return nil, noTranslation(from, to)
	case 1:
		return first.request(body, opts)
	}
	hop := opts
	hop.Intermediate = true
	mid, err := first.request(body, hop)
	if err != nil {
		return nil, err
	}
	return second.request(mid, opts)
}
