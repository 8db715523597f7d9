package mock

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aigateway/gateway/converter/jsonx"
)

const (
	// echoPrefix starts every text answer.
	echoPrefix = "Hello! You said: "
	// toolResultsPrefix starts the answer to a turn of tool results.
	toolResultsPrefix = "Tool results: "
	// maxEcho is how many bytes of the user's text the answer repeats.
	maxEcho = 200
	// maxToolCalls is how many declared tools one answer calls.
	maxToolCalls = 2
	// argFragments is how many pieces a tool call's arguments stream in.
	argFragments = 3
	// thinkingText is the reasoning shown when thinking is enabled.
	thinkingText = "The user wants their message repeated back to them."
	// thinkingPieces is how many deltas the thinking text streams in.
	thinkingPieces = 3
)

// finish is why an answer ended.
type finish int

const (
	finishEnd     finish = iota // natural end: "stop" / "end_turn"
	finishStopSeq               // a stop sequence matched: "stop" / "stop_sequence"
	finishLength                // max tokens reached: "length" / "max_tokens"
	finishTools                 // tool calls: "tool_calls" / "tool_use"
)

// toolCall is one call in an answer.
type toolCall struct {
	id    string
	name  string
	args  string // JSON arguments, or a custom tool's free-form input
	frags []string
	// custom marks a call of a Responses custom tool.
	custom bool
}

// answer is a provider-neutral reply; the encoders turn it into either wire
// format.
type answer struct {
	seq       uint64
	model     string
	thinking  []string
	signature string
	text      []string
	calls     []toolCall
	finish    finish
	stopSeq   string
	// Token counts, see the package documentation.
	inputTokens  int // prompt tokens including cached ones
	cachedTokens int
	outputTokens int
}

// fullText returns the answer's text.
func (a *answer) fullText() string { return strings.Join(a.text, "") }

// fullThinking returns the answer's reasoning text.
func (a *answer) fullThinking() string { return strings.Join(a.thinking, "") }

// buildAnswer derives the answer for p. callPrefix starts tool call ids
// ("call_" or "toolu_"), so ids look like the provider's own.
func buildAnswer(p *prompt, chunks int, seq uint64, callPrefix string) answer {
	a := answer{seq: seq, model: p.model}
	if p.thinking {
		a.thinking = split(thinkingText, thinkingPieces)
		a.signature = "EqMock" + strconv.FormatUint(seq, 10) + "signature"
	}
	if r := p.script; r != nil && len(r.ToolCalls) > 0 {
		a.finish = finishTools
		seqStr := strconv.FormatUint(seq, 10)
		for i := range r.ToolCalls {
			args := r.ToolCalls[i].arguments()
			a.calls = append(a.calls, toolCall{
				id:     callPrefix + "mock_" + seqStr + "_" + strconv.Itoa(i),
				name:   r.ToolCalls[i].Name,
				args:   args,
				frags:  split(args, argFragments),
				custom: isCustom(p.tools, r.ToolCalls[i].Name),
			})
		}
	} else if calls := chooseTools(p); p.script == nil && len(calls) > 0 {
		a.finish = finishTools
		seqStr := strconv.FormatUint(seq, 10)
		for i, t := range calls {
			args := toolArguments(t.schema)
			if t.custom {
				args = "value-" + t.name
			}
			a.calls = append(a.calls, toolCall{
				id:     callPrefix + "mock_" + seqStr + "_" + strconv.Itoa(i),
				name:   t.name,
				args:   args,
				frags:  split(args, argFragments),
				custom: t.custom,
			})
		}
	} else {
		text := answerText(p)
		if i, stop := firstStop(text, p.stops); i >= 0 {
			text = text[:i]
			a.finish, a.stopSeq = finishStopSeq, stop
		}
		a.text = split(text, chunks)
		if p.maxTokens > 0 && p.maxTokens < len(a.text) {
			a.text = a.text[:p.maxTokens]
			a.finish, a.stopSeq = finishLength, ""
		}
	}

	a.inputTokens = max(p.bodyLen/4, 1)
	if p.cached {
		a.cachedTokens = a.inputTokens / 2
	}
	a.outputTokens = len(a.thinking) + len(a.text)
	for _, c := range a.calls {
		a.outputTokens += len(c.frags)
	}
	return a
}

// isCustom reports whether the declared tool name is a custom tool.
func isCustom(tools []toolDecl, name string) bool {
	for _, t := range tools {
		if t.name == name {
			return t.custom
		}
	}
	return false
}

// answerText is the text of a non-tool-call answer.
func answerText(p *prompt) string {
	if p.script != nil {
		return p.script.Text
	}
	if p.toolResults != nil {
		return toolResultsPrefix + strings.Join(p.toolResults, "; ")
	}
	s := echoPrefix + truncate(p.userText, maxEcho)
	if p.images > 0 {
		s += " [" + strconv.Itoa(p.images) + " image(s)]"
	}
	return s
}

// chooseTools returns the tools an answer calls, none when it answers with
// text.
func chooseTools(p *prompt) []toolDecl {
	if !p.lastIsUser || p.noTools || len(p.tools) == 0 {
		return nil
	}
	if p.forcedTool != "" {
		for _, t := range p.tools {
			if t.name == p.forcedTool {
				return []toolDecl{t}
			}
		}
		return nil
	}
	n := maxToolCalls
	if p.oneTool {
		n = 1
	}
	return p.tools[:min(n, len(p.tools))]
}

// toolArguments builds a call's arguments from the tool's JSON schema: one
// member per property, in sorted order so the result does not depend on
// how a converter re-encodes the schema.
func toolArguments(schema jsonx.RawMessage) string {
	var s struct {
		Properties map[string]struct {
			Type jsonx.RawMessage `json:"type"`
		} `json:"properties"`
	}
	if len(schema) == 0 || jsonx.Unmarshal(schema, &s) != nil || len(s.Properties) == 0 {
		return "{}"
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	b := []byte{'{'}
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonx.AppendString(b, name)
		b = append(b, ':')
		switch schemaType(s.Properties[name].Type) {
		case "number", "integer":
			b = append(b, '1')
		case "boolean":
			b = append(b, "true"...)
		case "array":
			b = append(b, "[]"...)
		case "object":
			b = append(b, "{}"...)
		default:
			b = jsonx.AppendString(b, "value-"+name)
		}
	}
	return string(append(b, '}'))
}

// schemaType reads a JSON schema "type": a name, or a list of names of
// which the first that is not "null" counts.
func schemaType(raw jsonx.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var t string
		_ = jsonx.Unmarshal(raw, &t)
		return t
	}
	var list []string
	_ = jsonx.Unmarshal(raw, &list)
	for _, t := range list {
		if t != "null" {
			return t
		}
	}
	return ""
}

// firstStop returns the position of the earliest stop sequence in text and
// the sequence, or -1.
func firstStop(text string, stops []string) (int, string) {
	at, which := -1, ""
	for _, s := range stops {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
			at, which = i, s
		}
	}
	return at, which
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// split cuts s into n pieces of roughly equal byte length, never inside a
// character and never empty; fewer pieces when s has fewer characters. The
// pieces share s's memory.
func split(s string, n int) []string {
	if s == "" {
		return nil
	}
	n = min(n, utf8.RuneCountInString(s))
	pieces := make([]string, 0, n)
	start := 0
	for i := 1; i <= n; i++ {
		end := len(s) * i / n
		for end < len(s) && !utf8.RuneStart(s[end]) {
			end++
		}
		if end <= start {
			// Multi-byte characters pushed this boundary onto the
			// previous one; take the next whole character instead. The
			// last boundary is len(s), so the loop always ends there.
			_, size := utf8.DecodeRuneInString(s[start:])
			end = start + size
		}
		pieces = append(pieces, s[start:end])
		start = end
		if start == len(s) {
			break
		}
	}
	return pieces
}
