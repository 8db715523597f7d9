package converter

import "github.com/aigateway/gateway/converter/jsonx"

// Wire types of the OpenAI Responses API answer side, as read from an
// upstream: the response object, its output items and the stream events.
// Only what the translators use is kept.

// rsOutResponse is a response object: a JSON answer, or the response member
// of response.created / .completed / .incomplete / .failed.
type rsOutResponse struct {
	ID                string           `json:"id"`
	Model             string           `json:"model"`
	Status            string           `json:"status"`
	Error             *rsOutError      `json:"error"`
	IncompleteDetails *rsOutIncomplete `json:"incomplete_details"`
	Output            []rsOutItem      `json:"output"`
	Usage             *rsOutUsage      `json:"usage"`
}

// rsOutIncomplete says why a response is incomplete.
type rsOutIncomplete struct {
	Reason string `json:"reason"`
}

// rsOutError is a response's error object, the error member of an error
// body, or a nested error of an error event. Code may be null or absent.
type rsOutError struct {
	Code    jsonx.RawMessage `json:"code"`
	Message jsonx.RawMessage `json:"message"`
	Type    jsonx.RawMessage `json:"type"`
	Param   jsonx.RawMessage `json:"param"`
}

// rsOutItem is one output item; the union of the item types the gateway
// translates (message, reasoning, function_call, custom_tool_call). Other
// types are decoded only far enough to be skipped.
type rsOutItem struct {
	Type             string           `json:"type"`
	ID               string           `json:"id"`
	Status           string           `json:"status"`
	Content          []rsOutPart      `json:"content"`
	Summary          []rsOutPart      `json:"summary"`
	EncryptedContent string           `json:"encrypted_content"`
	CallID           string           `json:"call_id"`
	Name             string           `json:"name"`
	Arguments        jsonx.RawMessage `json:"arguments"`
	Input            string           `json:"input"`
	Namespace        string           `json:"namespace"`
	Action           jsonx.RawMessage `json:"action"`
}

// rsOutPart is a content part of a message (output_text, refusal), a
// reasoning item's summary_text or reasoning_text part.
type rsOutPart struct {
	Type    string `json:"type"`
	Text    string `json:"text"`
	Refusal string `json:"refusal"`
}

// rsOutUsage is a response's usage. input_tokens counts cached tokens too.
type rsOutUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	OutputTokens       int64 `json:"output_tokens"`
	InputTokensDetails *struct {
		CachedTokens     int64 `json:"cached_tokens"`
		CacheWriteTokens int64 `json:"cache_write_tokens"`
	} `json:"input_tokens_details"`
	OutputTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
}

// gateway returns the usage in the gateway's terms.
func (u *rsOutUsage) gateway() Usage {
	if u == nil {
		return Usage{}
	}
	g := Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens}
	if d := u.InputTokensDetails; d != nil {
		g.CacheReadTokens = d.CachedTokens
		g.CacheWriteTokens = d.CacheWriteTokens
	}
	return g
}

// rsOutEvent is the union of the stream events the translators read (error
// events are read by parseResponsesError). One value is reused for a whole
// stream; reset clears it between events.
type rsOutEvent struct {
	Type         string         `json:"type"`
	Response     *rsOutResponse `json:"response"`
	Item         *rsOutItem     `json:"item"`
	Part         *rsOutPart     `json:"part"`
	OutputIndex  int            `json:"output_index"`
	ContentIndex int            `json:"content_index"`
	SummaryIndex int            `json:"summary_index"`
	Delta        string         `json:"delta"`
	Text         string         `json:"text"`
	Refusal      string         `json:"refusal"`
	Arguments    string         `json:"arguments"`
	Input        string         `json:"input"`
}

// reset prepares the event for decoding the next one. Indexes start at -1 so
// that an absent index is not taken for item 0.
func (e *rsOutEvent) reset() {
	*e = rsOutEvent{OutputIndex: -1, ContentIndex: -1, SummaryIndex: -1}
}
