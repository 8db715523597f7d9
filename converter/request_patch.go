package converter

import (
	"sort"
	"strconv"

	"github.com/aigateway/gateway/converter/jsonx"
)

// A same-format request is forwarded byte for byte: bodies can carry tens of
// megabytes of base64 that gain nothing from a decode/encode round trip, and
// re-encoding would also reorder keys and change number spellings the client
// chose. patchRequest therefore splices the few values the gateway owns.

// splice replaces body[start:end] with text (start == end inserts).
type splice struct {
	start, end int
	text       []byte
}

// patchRequest applies opts to a request that keeps its format, one with a
// messages array:
//   - every top-level "model" value becomes opts.Model (inserted if absent);
//   - streamOptions (OpenAI Chat), streaming, opts.IncludeUsage:
//     stream_options.include_usage=true;
//   - maxTokens (Anthropic): max_tokens is inserted when the client gave none.
//
// Nested "model" keys (inside metadata, tools, …) are never touched.
func patchRequest(body []byte, opts RequestOptions, streamOptions, maxTokensRequired bool) ([]byte, error) {
	var (
		models         []member
		streamOpts     []member
		stream         bool
		maxTokens      []member
		haveMaxTokens  bool
		openBrace      int
		hasAnyMember   bool
		sawMessages    bool
		messagesIsList = true
	)
	openBrace, err := walkTopObject(body, func(m member) error {
		hasAnyMember = true
		switch {
		case keyIs(body, m, "model"):
			models = append(models, m)
		case keyIs(body, m, "messages"):
			sawMessages = true
			messagesIsList = valueKind(body, m) == '['
		case keyIs(body, m, "stream"):
			stream, _ = valueBool(body, m)
		case keyIs(body, m, "stream_options"):
			streamOpts = append(streamOpts, m)
		case keyIs(body, m, "max_tokens"):
			maxTokens = append(maxTokens, m)
			haveMaxTokens = !isNull(body, m)
		}
		return nil
	})
	if err != nil {
		return nil, asRequestError(err)
	}
	if !sawMessages || !messagesIsList {
		return nil, InvalidParam("messages", "messages is required and must be an array")
	}

	var edits []splice
	var inserts [][]byte // members added at the start of the top-level object
	if opts.Model != "" {
		q := jsonx.AppendString(nil, opts.Model)
		if len(models) == 0 {
			inserts = append(inserts, append([]byte(`"model":`), q...))
		}
		for _, m := range models {
			edits = append(edits, splice{m.valStart, m.valEnd, q})
		}
	}
	if streamOptions && opts.IncludeUsage && stream {
		if len(streamOpts) == 0 {
			inserts = append(inserts, []byte(`"stream_options":{"include_usage":true}`))
		}
		for _, m := range streamOpts {
			e, err := patchIncludeUsage(body, m)
			if err != nil {
				return nil, err
			}
			edits = append(edits, e...)
		}
	}
	if maxTokensRequired && !haveMaxTokens {
		n := strconv.AppendInt(nil, opts.defaultMaxTokens(), 10)
		if len(maxTokens) == 0 {
			inserts = append(inserts, append([]byte(`"max_tokens":`), n...))
		}
		for _, m := range maxTokens {
			edits = append(edits, splice{m.valStart, m.valEnd, n})
		}
	}
	if len(inserts) > 0 {
		var text []byte
		for i, in := range inserts {
			if i > 0 {
				text = append(text, ',')
			}
			text = append(text, in...)
		}
		if hasAnyMember {
			text = append(text, ',')
		}
		edits = append(edits, splice{openBrace + 1, openBrace + 1, text})
	}
	if len(edits) == 0 {
		return body, nil
	}
	return applySplices(body, edits), nil
}

// patchIncludeUsage returns the edits that make the stream_options member m
// carry include_usage=true.
func patchIncludeUsage(body []byte, m member) ([]splice, error) {
	switch valueKind(body, m) {
	case 'n':
		return []splice{{m.valStart, m.valEnd, []byte(`{"include_usage":true}`)}}, nil
	case '{':
	default:
		return nil, InvalidParam("stream_options", "stream_options must be an object")
	}
	var edits []splice
	empty := true
	_, err := walkObject(body, m.valStart, 1, func(sm member) error {
		empty = false
		if keyIs(body, sm, "include_usage") {
			edits = append(edits, splice{sm.valStart, sm.valEnd, []byte("true")})
		}
		return nil
	})
	if err != nil {
		return nil, asRequestError(err)
	}
	if len(edits) == 0 {
		text := []byte(`"include_usage":true`)
		if !empty {
			text = append(text, ',')
		}
		edits = append(edits, splice{m.valStart + 1, m.valStart + 1, text})
	}
	return edits, nil
}

// applySplices builds the patched body in one allocation.
func applySplices(body []byte, edits []splice) []byte {
	sort.Slice(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	size := len(body)
	for _, e := range edits {
		size += len(e.text) - (e.end - e.start)
	}
	out := make([]byte, 0, size)
	pos := 0
	for _, e := range edits {
		out = append(out, body[pos:e.start]...)
		out = append(out, e.text...)
		pos = e.end
	}
	return append(out, body[pos:]...)
}
