package converter

import (
	"bytes"

	"github.com/aigateway/gateway/converter/jsonx"
	"github.com/aigateway/gateway/converter/sse"
)

// Stored responses of the OpenAI Responses API. The gateway keeps a
// finished answer with the input items it answered, so that a follow-up
// naming it in previous_response_id can be sent to any upstream as one
// self-contained request: the stored items go before the follow-up's own
// input, and previous_response_id goes away. The functions here are the
// pure part of that; the store itself lives with the workers.
//
// Every function leaves the bytes it does not own as they are: a body
// carrying megabytes of base64 is walked, never decoded and re-encoded.

// ResponsesState is what a Responses request asks of the response store.
type ResponsesState struct {
	// PreviousResponseID names the stored response the request continues;
	// empty starts a new conversation.
	PreviousResponseID string
	// Store asks for the answer to be kept. The API's default is true, so
	// a request without "store" (or with null) asks for it.
	Store bool
}

// InspectResponsesState reads previous_response_id and store from a
// Responses request body. A value of the wrong type is a 400 naming it.
func InspectResponsesState(body []byte) (ResponsesState, error) {
	st := ResponsesState{Store: true}
	_, err := walkTopObject(body, func(m member) error {
		switch {
		case keyIs(body, m, "previous_response_id"):
			if isNull(body, m) {
				st.PreviousResponseID = ""
				return nil
			}
			id, ok := valueString(body, m)
			if !ok {
				return InvalidParam("previous_response_id", "previous_response_id must be a string")
			}
			st.PreviousResponseID = id
		case keyIs(body, m, "store"):
			if isNull(body, m) {
				st.Store = true
				return nil
			}
			v, ok := valueBool(body, m)
			if !ok {
				return InvalidParam("store", "store must be a boolean")
			}
			st.Store = v
		}
		return nil
	})
	if err != nil {
		return ResponsesState{}, asRequestError(err)
	}
	return st, nil
}

// ResponsesInputItems returns the input of a Responses request as a JSON
// array of items, the form a stored conversation keeps: an array as it is,
// a string as one user message, no input as an empty array.
func ResponsesInputItems(body []byte) ([]byte, error) {
	var input []byte
	_, err := walkTopObject(body, func(m member) error {
		if keyIs(body, m, "input") {
			input = body[m.valStart:m.valEnd]
		}
		return nil
	})
	if err != nil {
		return nil, asRequestError(err)
	}
	items, err := inputAsItems(input)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), items...), nil
}

// inputAsItems turns the raw value of "input" into an array of items; an
// array is returned as the same bytes.
func inputAsItems(input []byte) ([]byte, error) {
	switch {
	case len(input) == 0 || input[0] == 'n':
		return []byte("[]"), nil
	case input[0] == '[':
		return input, nil
	case input[0] == '"':
		out := make([]byte, 0, len(input)+96)
		out = append(out, `[{"type":"message","role":"user","content":[{"type":"input_text","text":`...)
		out = append(out, input...)
		return append(out, "}]}]"...), nil
	}
	return nil, InvalidParam("input", "input must be a string or an array of items")
}

// ContinueResponses rewrites a Responses request that continues a stored
// conversation: history, a JSON array of items, goes before the request's
// own input, and previous_response_id is removed. Everything else keeps its
// bytes; instructions in particular are the request's own, as with the API,
// which does not carry a previous response's instructions over.
func ContinueResponses(body, history []byte) ([]byte, error) {
	if !isArray(history) {
		return nil, Errorf(KindInternal, "stored conversation is not an array of items")
	}
	var members []member
	openBrace, err := walkTopObject(body, func(m member) error {
		members = append(members, m)
		return nil
	})
	if err != nil {
		return nil, asRequestError(err)
	}
	remove := make([]bool, len(members))
	var edits []splice
	sawInput := false
	for i, m := range members {
		switch {
		case keyIs(body, m, "previous_response_id"):
			remove[i] = true
		case keyIs(body, m, "input"):
			sawInput = true
			own, err := inputAsItems(body[m.valStart:m.valEnd])
			if err != nil {
				return nil, err
			}
			edits = append(edits, splice{m.valStart, m.valEnd, joinArrays(history, own)})
		}
	}
	kept := len(members)
	for _, r := range remove {
		if r {
			kept--
		}
	}
	out := applySplices(body, append(edits, removeMembers(members, remove)...))
	if !sawInput {
		// A second pass: an insertion at the brace and the removal of a
		// first member would start at the same offset. Nothing before the
		// brace moved.
		text := append([]byte(`"input":`), history...)
		if kept > 0 {
			text = append(text, ',')
		}
		out = applySplices(out, []splice{{openBrace + 1, openBrace + 1, text}})
	}
	return out, nil
}

// removeMembers returns the edits that delete the members marked in remove
// together with the commas between them. A member is cut up to the next
// member's key; a run of removed members at the end of the object is cut
// from the end of the last member kept, taking the comma before it.
func removeMembers(members []member, remove []bool) []splice {
	last := len(members) - 1
	for last >= 0 && remove[last] {
		last--
	}
	var edits []splice
	for i := 0; i <= last; i++ {
		if remove[i] {
			edits = append(edits, splice{members[i].keyStart, members[i+1].keyStart, nil})
		}
	}
	if last < len(members)-1 {
		start := members[last+1].keyStart
		if last >= 0 {
			start = members[last].valEnd
		}
		edits = append(edits, splice{start, members[len(members)-1].valEnd, nil})
	}
	return edits
}

// ResponsesConversation returns what a follow-up to a stored response
// continues from: the input items the response answered (already holding
// the conversation before it), then the response's output items.
func ResponsesConversation(input, response []byte) ([]byte, error) {
	if !isArray(input) {
		return nil, Errorf(KindInternal, "stored input is not an array of items")
	}
	var output []byte
	_, err := walkTopObject(response, func(m member) error {
		if keyIs(response, m, "output") {
			output = response[m.valStart:m.valEnd]
		}
		return nil
	})
	if err != nil {
		return nil, Errorf(KindInternal, "stored response is not a JSON object: %v", err)
	}
	if len(output) == 0 || output[0] == 'n' {
		return append([]byte(nil), input...), nil
	}
	if output[0] != '[' {
		return nil, Errorf(KindInternal, "stored response's output is not an array")
	}
	return joinArrays(input, output), nil
}

// ResponseID returns the id of a Responses answer body: a JSON object whose
// "object" is "response". ok is false for anything else.
func ResponseID(body []byte) (id string, ok bool) {
	isResponse := false
	_, err := walkTopObject(body, func(m member) error {
		switch {
		case keyIs(body, m, "id"):
			id, _ = valueString(body, m)
		case keyIs(body, m, "object"):
			v, _ := valueString(body, m)
			isResponse = v == "response"
		}
		return nil
	})
	if err != nil || !isResponse || id == "" {
		return "", false
	}
	return id, true
}

// FinalResponse finds, in bytes of a Responses event stream sent to a
// client, the response of its last response.completed or
// response.incomplete event, and returns that object and its id. ok is
// false when the bytes hold no such event: the stream failed, or it is not
// over yet.
func FinalResponse(stream []byte) (response []byte, id string, ok bool) {
	var scratch []byte
	for len(stream) > 0 {
		ev, n, whole, next := sse.Parse(stream, true, scratch)
		scratch = next
		if !whole || n == 0 {
			break
		}
		stream = stream[n:]
		if r, rid, found := finishedResponse(ev.Data); found {
			// Data may alias scratch, which the next event reuses.
			response, id, ok = append(response[:0], r...), rid, true
		}
	}
	return response, id, ok
}

// finishedResponse returns the response object of a response.completed or
// response.incomplete event's data.
func finishedResponse(data []byte) (response []byte, id string, ok bool) {
	if len(data) == 0 || !bytes.Contains(data, []byte(`"response.`)) {
		return nil, "", false
	}
	var typ string
	_, err := walkTopObject(data, func(m member) error {
		switch {
		case keyIs(data, m, "type"):
			typ, _ = valueString(data, m)
		case keyIs(data, m, "response"):
			if valueKind(data, m) == '{' {
				response = data[m.valStart:m.valEnd]
			}
		}
		return nil
	})
	if err != nil || (typ != "response.completed" && typ != "response.incomplete") || response == nil {
		return nil, "", false
	}
	_, err = walkTopObject(response, func(m member) error {
		if keyIs(response, m, "id") {
			id, _ = valueString(response, m)
		}
		return nil
	})
	if err != nil || id == "" {
		return nil, "", false
	}
	return response, id, true
}

// isArray reports whether b is exactly one JSON array.
func isArray(b []byte) bool {
	i := skipSpace(b, 0)
	return i < len(b) && b[i] == '[' && validJSON(b)
}

// joinArrays concatenates two JSON arrays, both already validated.
func joinArrays(a, b []byte) []byte {
	a, b = bytes.TrimSpace(a), bytes.TrimSpace(b)
	aEmpty := skipSpace(a, 1) == len(a)-1
	bEmpty := skipSpace(b, 1) == len(b)-1
	switch {
	case aEmpty:
		return append([]byte(nil), b...)
	case bEmpty:
		return append([]byte(nil), a...)
	}
	out := make([]byte, 0, len(a)+len(b))
	out = append(out, a[:len(a)-1]...)
	out = append(out, ',')
	return append(out, b[1:]...)
}

// ItemPage selects a page of GET /v1/responses/{id}/input_items, with the
// API's parameters.
type ItemPage struct {
	// Limit is the most items on the page (the API allows 1 to 100).
	Limit int
	// Ascending lists the items oldest first; the API's default is newest
	// first.
	Ascending bool
	// After is the id of the item the page starts after, in the page's
	// order; empty starts at the beginning.
	After string
}

// AppendResponsesItemList appends the list object GET
// /v1/responses/{id}/input_items answers with, for a page of items, a JSON
// array: {"object":"list","data":[…],"first_id":…,"last_id":…,"has_more":…}.
// An After naming no item gives an empty page.
func AppendResponsesItemList(dst, items []byte, page ItemPage) ([]byte, error) {
	all, err := splitArray(items)
	if err != nil {
		return nil, err
	}
	if !page.Ascending {
		for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
			all[i], all[j] = all[j], all[i]
		}
	}
	if page.After != "" {
		from := len(all)
		for i, item := range all {
			if itemID(item) == page.After {
				from = i + 1
				break
			}
		}
		all = all[from:]
	}
	hasMore := page.Limit > 0 && len(all) > page.Limit
	if hasMore {
		all = all[:page.Limit]
	}
	dst = append(dst, `{"object":"list","data":[`...)
	for i, item := range all {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, item...)
	}
	dst = append(dst, `],"first_id":`...)
	var first, last string
	if len(all) > 0 {
		first, last = itemID(all[0]), itemID(all[len(all)-1])
	}
	dst = appendNullableString(dst, first)
	dst = append(dst, `,"last_id":`...)
	dst = appendNullableString(dst, last)
	dst = append(dst, `,"has_more":`...)
	if hasMore {
		dst = append(dst, "true}"...)
	} else {
		dst = append(dst, "false}"...)
	}
	return dst, nil
}

// splitArray returns the raw elements of a JSON array.
func splitArray(b []byte) ([][]byte, error) {
	if !isArray(b) {
		return nil, Errorf(KindInternal, "stored input is not an array of items")
	}
	var out [][]byte
	i := skipSpace(b, skipSpace(b, 0)+1)
	for i < len(b) && b[i] != ']' {
		end, err := skipValue(b, i, 1)
		if err != nil {
			return nil, Errorf(KindInternal, "stored input: %v", err)
		}
		out = append(out, b[i:end])
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return out, nil
}

// itemID returns the "id" of an item object, or "".
func itemID(item []byte) string {
	var id string
	if len(item) == 0 || item[0] != '{' {
		return ""
	}
	_, _ = walkObject(item, 0, 1, func(m member) error {
		if keyIs(item, m, "id") {
			id, _ = valueString(item, m)
		}
		return nil
	})
	return id
}

// AppendResponseDeleted appends the answer to DELETE /v1/responses/{id}.
func AppendResponseDeleted(dst []byte, id string) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, id)
	return append(dst, `,"object":"response","deleted":true}`...)
}
