package converter

import (
	"github.com/aigateway/gateway/converter/format"
)

// A codec is everything the converter knows of one wire format apart from
// its translations to the others: how a request is read for admission, how
// a request, an answer and a stream of the format pass through unchanged,
// how the format reports errors, and the names of its headers. Callers
// never switch on a format: they look its codec up (codecFor) and call it.
//
// Every field must be set; TestCodecsComplete checks that every format of
// format.All has a codec with every piece.
type codec struct {
	// inspect validates a request body and reads what admission needs.
	inspect func(body []byte) (RequestInfo, error)
	// patch applies RequestOptions to a request that keeps its format,
	// without re-encoding what it does not change.
	patch func(body []byte, opts RequestOptions) ([]byte, error)
	// forward passes a same-format answer through and reads its usage.
	forward func(body []byte, opts ResponseOptions) ([]byte, Usage, error)
	// passStream passes a same-format stream through (Raw bytes forwarded),
	// tracking usage and completion.
	passStream func(opts StreamOptions) eventTranslator
	// hints reads from a client request of the format what the answer
	// needs beyond admission (ReadClientHints).
	hints func(body []byte) ClientHints

	// errors is how the format reports a failure.
	errors errorDialect
	// headers is the format's header dialect.
	headers *headerDialect
}

// errorDialect is how one format reports errors.
type errorDialect struct {
	// shape names the error body's shape; formats of one shape pass an
	// upstream's error body on unchanged.
	shape string
	// status and typ are the HTTP status and error type of a gateway
	// error in the format.
	status func(e *Error) int
	typ    func(e *Error) string
	// body appends the JSON error body of e; requestID goes where the
	// format puts one.
	body func(dst []byte, e *Error, requestID string) []byte
	// streamError appends the SSE event that ends a started stream with e.
	streamError func(dst []byte, e *Error) []byte
	// fields reads what an upstream error body of this format says beyond
	// its message, in the terms of any other format's client: the
	// machine-readable code and the offending parameter.
	fields func(p parsedError) (code, param string)
	// translated appends an error body for a client of this format from an
	// upstream error of another format: the upstream's status, message,
	// parameter and code.
	translated func(dst []byte, status int, message, param, code, requestID string) []byte
}

// codecs is the registry: one codec per format, built once and never
// changed, so that it is no mutable state.
var codecs = map[format.Format]*codec{
	format.OpenAIChat:      &openAIChatCodec,
	format.OpenAIResponses: &openAIResponsesCodec,
	format.Anthropic:       &anthropicCodec,
}

// codecFor returns the codec of f, nil for an unknown format.
func codecFor(f format.Format) *codec { return codecs[f] }

// errorCodec returns the codec whose error dialect reports errors for a
// client of format f. Errors must always be reportable, so an unknown format
// gets OpenAI's shape, the most widely understood.
func errorCodec(f format.Format) *codec {
	if c := codecs[f]; c != nil {
		return c
	}
	return &openAIChatCodec
}

var openAIChatCodec = codec{
	inspect: func(body []byte) (RequestInfo, error) { return inspectMessagesRequest(body, true) },
	patch:   func(body []byte, opts RequestOptions) ([]byte, error) { return patchRequest(body, opts, true, false) },
	forward: func(body []byte, opts ResponseOptions) ([]byte, Usage, error) {
		return forwardResponse(body, opts, openAIUsage)
	},
	passStream: func(opts StreamOptions) eventTranslator { return newOpenAIPassStream(opts) },
	hints:      noHints,
	errors:     openAIErrors,
	headers:    &openAIHeaders,
}

var anthropicCodec = codec{
	inspect: func(body []byte) (RequestInfo, error) { return inspectMessagesRequest(body, false) },
	patch:   func(body []byte, opts RequestOptions) ([]byte, error) { return patchRequest(body, opts, false, true) },
	forward: func(body []byte, opts ResponseOptions) ([]byte, Usage, error) {
		return forwardResponse(body, opts, anthropicUsage)
	},
	passStream: func(opts StreamOptions) eventTranslator { return newAnthropicPassStream(opts) },
	hints:      noHints,
	errors: errorDialect{
		shape:       "anthropic",
		status:      func(e *Error) int { return e.shape().anthropicStatus },
		typ:         func(e *Error) string { return e.shape().anthropicType },
		body:        appendAnthropicErrorBody,
		streamError: appendAnthropicStreamError,
		// Anthropic's type is the most precise thing it says about the
		// failure; code is where OpenAI clients look for such a tag.
		fields:     func(p parsedError) (code, param string) { return p.typ, "" },
		translated: appendAnthropicTranslatedError,
	},
	headers: &anthropicHeaders,
}

// openAIErrors is the error dialect of both OpenAI formats: the same body,
// {"error":{"message","type","param","code"}}, whatever the endpoint.
var openAIErrors = errorDialect{
	shape:  "openai",
	status: func(e *Error) int { return e.shape().openAIStatus },
	typ:    func(e *Error) string { return e.shape().openAIType },
	body:   func(dst []byte, e *Error, _ string) []byte { return appendOpenAIError(dst, e) },
	streamError: func(dst []byte, e *Error) []byte {
		dst = append(dst, "data: "...)
		dst = appendOpenAIError(dst, e)
		return append(dst, "\n\n"...)
	},
	fields:     func(p parsedError) (code, param string) { return p.code, p.param },
	translated: appendOpenAITranslatedError,
}

// hub is the format every other converts through: Anthropic Messages, the
// richest of them (thinking signatures, redacted thinking, cache control),
// so that a pair of other formats loses nothing the hub could carry.
const hub = format.Anthropic

// pair is one direction of translation.
type pair struct{ from, to format.Format }

// translator converts one direction of a pair of formats: each piece takes
// a body or stream of the pair's from format to its to format (a client's
// request to its upstream's format; an upstream's answer to its client's).
// Every field is set for a pair in the table.
type translator struct {
	request  func(body []byte, opts RequestOptions) ([]byte, error)
	response func(body []byte, opts ResponseOptions) ([]byte, Usage, error)
	stream   func(opts StreamOptions) eventTranslator
}

// translators holds the direct translations; a pair not in the table goes
// through the hub (see route). Read only.
var translators = map[pair]translator{
	{format.OpenAIChat, format.Anthropic}: {
		request:  openAIToAnthropicRequest,
		response: openAIToAnthropicResponse,
		stream:   func(opts StreamOptions) eventTranslator { return newO2AStream(opts) },
	},
	{format.Anthropic, format.OpenAIChat}: {
		request:  anthropicToOpenAIRequest,
		response: anthropicToOpenAIResponse,
		stream:   func(opts StreamOptions) eventTranslator { return newA2OStream(opts) },
	},
	{format.OpenAIResponses, format.Anthropic}: {
		request:  responsesToAnthropicRequest,
		response: responsesToAnthropicResponse,
		stream:   func(opts StreamOptions) eventTranslator { return newResponsesToAnthropicStream(opts) },
	},
	{format.Anthropic, format.OpenAIResponses}: {
		request:  anthropicToResponsesRequest,
		response: anthropicToResponsesResponse,
		stream:   func(opts StreamOptions) eventTranslator { return newAnthropicToResponsesStream(opts) },
	},
}

// route returns the translations that take from to to: one direct
// translation (hops 1), or two through the hub (hops 2); hops is 0 when
// there is none. They are returned as values: a route is looked up per
// request, and pointers into the table's copies would escape to the heap.
func route(from, to format.Format) (first, second translator, hops int) {
	if t, ok := translators[pair{from, to}]; ok {
		return t, translator{}, 1
	}
	if from == hub || to == hub {
		return translator{}, translator{}, 0
	}
	a, okA := translators[pair{from, hub}]
	b, okB := translators[pair{hub, to}]
	if !okA || !okB {
		return translator{}, translator{}, 0
	}
	return a, b, 2
}

// ClientHints is what the answer for a client needs from the client's own
// request beyond what admission reads: for a Responses client, whether it
// asked for reasoning summaries and how it declared the tools that reach the
// hub under another shape. Zero for the other formats.
type ClientHints struct {
	ReasoningSummary bool
	Tools            map[string]ResponsesTool
}

// ReadClientHints reads the ClientHints of a request of format f; the
// worker passes them on in ResponseOptions and StreamOptions.
func ReadClientHints(f format.Format, body []byte) ClientHints {
	if c := codecFor(f); c != nil && c.hints != nil {
		return c.hints(body)
	}
	return ClientHints{}
}

func noHints([]byte) ClientHints { return ClientHints{} }

// noTranslation is the error for a pair of formats the converter cannot
// take one to the other: a gateway fault, since configuration named them.
func noTranslation(from, to format.Format) *Error {
	return Errorf(KindInternal, "the gateway cannot translate %s to %s", from, to)
}
