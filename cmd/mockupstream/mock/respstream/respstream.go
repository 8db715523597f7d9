// Package respstream checks that a stream of OpenAI Responses API events,
// as the official Go SDK decodes them, follows the API's grammar: numbered
// events from response.created to exactly one terminal event, output items
// opened and closed one at a time, and deltas that add up to what the done
// events, the finished items and the final response say. Tests of the mock
// upstream and of the gateway use it on every stream a client receives.
package respstream

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/openai/openai-go/v3/responses"
)

// Result is what a well-formed stream said.
type Result struct {
	// Terminal is the type of the last event: response.completed,
	// response.incomplete, response.failed or error.
	Terminal string
	// Response is the response of the terminal event (zero for error).
	Response responses.Response
	// Error is the terminal error event (zero unless Terminal is error).
	Error responses.ResponseErrorEvent
	// Items are the output items as output_item.done gave them.
	Items []responses.ResponseOutputItemUnion
	// Text is the output text of the stream's deltas, in order.
	Text string
	// Summary is the reasoning summary text of the stream's deltas.
	Summary string
	// Accumulated is the answer as the SDK's own ResponseAccumulator
	// rebuilt it from the same events (it serves the WebSocket transport,
	// whose events are the stream's); nil for a stream that ended in an
	// error event.
	Accumulated *responses.Response
}

// openItem is the output item between its added and done events.
type openItem struct {
	index   int64
	id      string
	typ     string
	parts   map[int64]*strings.Builder // output text by content index
	partsOn map[int64]bool             // content parts added and not done
	args    strings.Builder
	summary map[int64]*strings.Builder
}

// Check returns what events said, or the first way they break the grammar.
func Check(events []responses.ResponseStreamEventUnion) (Result, error) {
	var res Result
	if len(events) == 0 {
		return res, fmt.Errorf("no events")
	}
	var cur *openItem
	var created responses.Response
	var text, summary strings.Builder
	for i, ev := range events {
		where := fmt.Sprintf("event %d (%s)", i, ev.Type)
		if ev.SequenceNumber != int64(i) {
			return res, fmt.Errorf("%s: sequence_number %d, want %d", where, ev.SequenceNumber, i)
		}
		if i == 0 {
			if ev.Type != "response.created" {
				return res, fmt.Errorf("%s: the first event is not response.created", where)
			}
			created = ev.Response
			if created.ID == "" || created.Status != "in_progress" && created.Status != "queued" {
				return res, fmt.Errorf("%s: response id %q, status %q", where, created.ID, created.Status)
			}
			continue
		}
		if res.Terminal != "" {
			return res, fmt.Errorf("%s: event after the terminal %s", where, res.Terminal)
		}
		inItem := func() error {
			if cur == nil {
				return fmt.Errorf("%s: no output item is open", where)
			}
			if ev.ItemID != cur.id || ev.OutputIndex != cur.index {
				return fmt.Errorf("%s: item %q at %d, but the open item is %q at %d", where, ev.ItemID, ev.OutputIndex, cur.id, cur.index)
			}
			return nil
		}
		switch ev.Type {
		case "response.in_progress", "response.queued":
			if ev.Response.ID != created.ID {
				return res, fmt.Errorf("%s: response id %q, created was %q", where, ev.Response.ID, created.ID)
			}
		case "response.output_item.added":
			if cur != nil {
				return res, fmt.Errorf("%s: item %q is still open", where, cur.id)
			}
			if ev.OutputIndex != int64(len(res.Items)) {
				return res, fmt.Errorf("%s: output_index %d, want %d", where, ev.OutputIndex, len(res.Items))
			}
			if ev.Item.ID == "" || ev.Item.Type == "" {
				return res, fmt.Errorf("%s: item without id or type: %s", where, ev.Item.RawJSON())
			}
			cur = &openItem{index: ev.OutputIndex, id: ev.Item.ID, typ: ev.Item.Type,
				parts: map[int64]*strings.Builder{}, partsOn: map[int64]bool{}, summary: map[int64]*strings.Builder{}}
		case "response.content_part.added":
			if err := inItem(); err != nil {
				return res, err
			}
			if cur.parts[ev.ContentIndex] != nil {
				return res, fmt.Errorf("%s: content part %d added twice", where, ev.ContentIndex)
			}
			cur.parts[ev.ContentIndex] = &strings.Builder{}
			cur.partsOn[ev.ContentIndex] = true
		case "response.output_text.delta":
			if err := inItem(); err != nil {
				return res, err
			}
			if !cur.partsOn[ev.ContentIndex] {
				return res, fmt.Errorf("%s: content part %d is not open", where, ev.ContentIndex)
			}
			cur.parts[ev.ContentIndex].WriteString(ev.Delta)
			text.WriteString(ev.Delta)
		case "response.output_text.done":
			if err := inItem(); err != nil {
				return res, err
			}
			if p := cur.parts[ev.ContentIndex]; p == nil || p.String() != ev.Text {
				return res, fmt.Errorf("%s: text %q, the deltas made %q", where, ev.Text, builderText(p))
			}
		case "response.content_part.done":
			if err := inItem(); err != nil {
				return res, err
			}
			if !cur.partsOn[ev.ContentIndex] {
				return res, fmt.Errorf("%s: content part %d is not open", where, ev.ContentIndex)
			}
			if got := cur.parts[ev.ContentIndex].String(); ev.Part.Text != got {
				return res, fmt.Errorf("%s: part text %q, the deltas made %q", where, ev.Part.Text, got)
			}
			cur.partsOn[ev.ContentIndex] = false
		case "response.function_call_arguments.delta", "response.custom_tool_call_input.delta":
			if err := inItem(); err != nil {
				return res, err
			}
			cur.args.WriteString(ev.Delta)
		case "response.function_call_arguments.done":
			if err := inItem(); err != nil {
				return res, err
			}
			if ev.Arguments != cur.args.String() {
				return res, fmt.Errorf("%s: arguments %q, the deltas made %q", where, ev.Arguments, cur.args.String())
			}
		case "response.custom_tool_call_input.done":
			if err := inItem(); err != nil {
				return res, err
			}
			if ev.Input != cur.args.String() {
				return res, fmt.Errorf("%s: input %q, the deltas made %q", where, ev.Input, cur.args.String())
			}
		case "response.reasoning_summary_part.added":
			if err := inItem(); err != nil {
				return res, err
			}
			cur.summary[ev.SummaryIndex] = &strings.Builder{}
		case "response.reasoning_summary_text.delta":
			if err := inItem(); err != nil {
				return res, err
			}
			p := cur.summary[ev.SummaryIndex]
			if p == nil {
				return res, fmt.Errorf("%s: summary part %d was not added", where, ev.SummaryIndex)
			}
			p.WriteString(ev.Delta)
			summary.WriteString(ev.Delta)
		case "response.reasoning_summary_text.done", "response.reasoning_summary_part.done":
			if err := inItem(); err != nil {
				return res, err
			}
			got := ev.Text
			if ev.Type == "response.reasoning_summary_part.done" {
				got = ev.Part.Text
			}
			if p := cur.summary[ev.SummaryIndex]; p == nil || p.String() != got {
				return res, fmt.Errorf("%s: summary %q, the deltas made %q", where, got, builderText(p))
			}
		case "response.output_item.done":
			if cur == nil || ev.Item.ID != cur.id || ev.OutputIndex != cur.index {
				return res, fmt.Errorf("%s: item %q at %d done, but it is not the open item", where, ev.Item.ID, ev.OutputIndex)
			}
			if err := checkDoneItem(cur, ev.Item); err != nil {
				return res, fmt.Errorf("%s: %w", where, err)
			}
			res.Items = append(res.Items, ev.Item)
			cur = nil
		case "response.completed", "response.incomplete", "response.failed":
			// A failure may cut an item short; an answer that ends
			// normally closes every item first.
			if cur != nil && ev.Type != "response.failed" {
				return res, fmt.Errorf("%s: item %q is still open", where, cur.id)
			}
			res.Terminal, res.Response = ev.Type, ev.Response
			if err := checkFinal(ev.Type, ev.Response, created.ID, res.Items); err != nil {
				return res, fmt.Errorf("%s: %w", where, err)
			}
		case "error":
			res.Terminal = ev.Type
			if err := json.Unmarshal([]byte(ev.RawJSON()), &res.Error); err != nil {
				return res, fmt.Errorf("%s: %w", where, err)
			}
			if res.Error.Message == "" {
				return res, fmt.Errorf("%s: error event without a message: %s", where, ev.RawJSON())
			}
		default:
			// Events of other item kinds (web search progress and the
			// like) carry nothing this check follows.
		}
	}
	if res.Terminal == "" {
		return res, fmt.Errorf("the stream ended after %d events without a terminal event", len(events))
	}
	res.Text, res.Summary = text.String(), summary.String()
	if res.Terminal != "error" {
		acc, snapshot, err := accumulate(events)
		if err != nil {
			return res, err
		}
		if got, want := snapshot.OutputText(), res.Response.OutputText(); res.Terminal != "response.failed" && got != want {
			return res, fmt.Errorf("the SDK's accumulator collected the text %q, the final response says %q", got, want)
		}
		res.Accumulated = acc
	}
	return res, nil
}

// accumulate feeds the events to the SDK's ResponseAccumulator and returns
// the response it rebuilt and what it collected from the deltas and done
// events.
func accumulate(events []responses.ResponseStreamEventUnion) (*responses.Response, responses.ResponseAccumulatorSnapshot, error) {
	var acc responses.ResponseAccumulator
	for i, ev := range events {
		var wire responses.ResponsesServerEventUnion
		if err := json.Unmarshal([]byte(ev.RawJSON()), &wire); err != nil {
			return nil, acc.Snapshot(), fmt.Errorf("event %d (%s): the SDK cannot decode it: %w", i, ev.Type, err)
		}
		if err := acc.AddEvent(wire); err != nil {
			return nil, acc.Snapshot(), fmt.Errorf("event %d (%s): the SDK's accumulator refused it: %w", i, ev.Type, err)
		}
	}
	r, err := acc.ReconstructedResponse()
	if err != nil {
		return nil, acc.Snapshot(), fmt.Errorf("the SDK's accumulator: %w", err)
	}
	return r, acc.Snapshot(), nil
}

func builderText(b *strings.Builder) string {
	if b == nil {
		return "<none>"
	}
	return b.String()
}

// checkDoneItem compares a finished item with what its deltas said.
func checkDoneItem(cur *openItem, item responses.ResponseOutputItemUnion) error {
	if item.Type != cur.typ {
		return fmt.Errorf("item %q done as %q, added as %q", item.ID, item.Type, cur.typ)
	}
	switch item.Type {
	case "message":
		msg := item.AsMessage()
		for k, p := range cur.parts {
			if cur.partsOn[k] {
				return fmt.Errorf("content part %d of %q was never done", k, item.ID)
			}
			if int(k) >= len(msg.Content) || msg.Content[k].Text != p.String() {
				return fmt.Errorf("message %q content %d differs from its deltas %q: %s", item.ID, k, p.String(), item.RawJSON())
			}
		}
	case "function_call":
		fc := item.AsFunctionCall()
		if fc.Arguments != cur.args.String() {
			return fmt.Errorf("call %q arguments %q, the deltas made %q", item.ID, fc.Arguments, cur.args.String())
		}
		if fc.CallID == "" || fc.Name == "" {
			return fmt.Errorf("call %q without call_id or name: %s", item.ID, item.RawJSON())
		}
		if !json.Valid([]byte(fc.Arguments)) {
			return fmt.Errorf("call %q arguments are not JSON: %q", item.ID, fc.Arguments)
		}
	case "custom_tool_call":
		cc := item.AsCustomToolCall()
		if cc.Input != cur.args.String() {
			return fmt.Errorf("custom call %q input %q, the deltas made %q", item.ID, cc.Input, cur.args.String())
		}
		if cc.CallID == "" || cc.Name == "" {
			return fmt.Errorf("custom call %q without call_id or name: %s", item.ID, item.RawJSON())
		}
	case "reasoning":
		rs := item.AsReasoning()
		for k, p := range cur.summary {
			if int(k) >= len(rs.Summary) || rs.Summary[k].Text != p.String() {
				return fmt.Errorf("reasoning %q summary %d differs from its deltas %q: %s", item.ID, k, p.String(), item.RawJSON())
			}
		}
	}
	return nil
}

// checkFinal compares the terminal response with the finished items.
func checkFinal(event string, r responses.Response, id string, items []responses.ResponseOutputItemUnion) error {
	if r.ID != id {
		return fmt.Errorf("response id %q, created was %q", r.ID, id)
	}
	want := strings.TrimPrefix(event, "response.")
	if string(r.Status) != want {
		return fmt.Errorf("status %q in %s", r.Status, event)
	}
	switch event {
	case "response.incomplete":
		if r.IncompleteDetails.Reason == "" {
			return fmt.Errorf("incomplete without incomplete_details.reason")
		}
	case "response.failed":
		if r.Error.Message == "" {
			return fmt.Errorf("failed without error.message")
		}
		return nil
	}
	if len(r.Output) != len(items) {
		return fmt.Errorf("output has %d items, the stream finished %d", len(r.Output), len(items))
	}
	for i, it := range r.Output {
		if it.ID != items[i].ID || it.Type != items[i].Type {
			return fmt.Errorf("output[%d] is %s %q, the stream finished %s %q", i, it.Type, it.ID, items[i].Type, items[i].ID)
		}
		if it.RawJSON() != items[i].RawJSON() && !sameJSON(it.RawJSON(), items[i].RawJSON()) {
			return fmt.Errorf("output[%d] differs from its output_item.done:\n%s\n%s", i, it.RawJSON(), items[i].RawJSON())
		}
	}
	u := r.Usage
	if u.TotalTokens != u.InputTokens+u.OutputTokens {
		return fmt.Errorf("usage total_tokens %d is not input %d + output %d", u.TotalTokens, u.InputTokens, u.OutputTokens)
	}
	return nil
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}
