package converter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// checkResponsesStream validates a Responses event sequence event by event
// against the grammar the API streams and its SDKs rely on, and returns what
// a client reassembles. It fails the test at the first violation.
func checkResponsesStream(t testing.TB, out []byte) rsStreamView {
	t.Helper()
	v, err := validateResponsesStream(parseEvents(t, out))
	if err != nil {
		t.Fatalf("%v\n--- stream ---\n%s", err, out)
	}
	return v
}

// rsStreamView is the client's view of a Responses stream.
type rsStreamView struct {
	terminal string            // type of the terminal event
	response map[string]any    // the terminal event's response
	items    []json.RawMessage // the output items, as output_item.done gave them
	text     string            // all output_text, in order
	args     map[string]string // function call arguments by call_id
	errCode  string
}

type rsItemState struct {
	id, typ   string
	done      bool
	parts     []*rsPartState // message content parts / reasoning summary parts
	args      string
	argsDone  bool
	input     string
	inputDone bool
	added     map[string]any
	doneItem  map[string]any
}

type rsPartState struct {
	text     string
	textDone bool
	done     bool
}

func validateResponsesStream(evs []sseEvent) (rsStreamView, error) {
	var v rsStreamView
	v.args = map[string]string{}
	var items []*rsItemState
	var respID string
	started := false
	for i, ev := range evs {
		if ev.IsComment() {
			continue
		}
		fail := func(format string, args ...any) (rsStreamView, error) {
			return v, fmt.Errorf("event %d (%s): %s", i, ev.Data, fmt.Sprintf(format, args...))
		}
		if v.terminal != "" {
			return fail("event after the terminal %s", v.terminal)
		}
		var e map[string]any
		dec := json.NewDecoder(bytes.NewReader(ev.Data))
		dec.UseNumber()
		if err := dec.Decode(&e); err != nil {
			return fail("not JSON: %v", err)
		}
		typ, _ := e["type"].(string)
		if typ == "" || ev.Name != typ {
			return fail("event name %q, type %q", ev.Name, typ)
		}
		if _, ok := e["error"]; ok {
			// The openai-go SDK ends a stream at any event with a top-level
			// error member.
			return fail("top-level error member")
		}
		seq, err := jsonInt(e["sequence_number"])
		if err != nil || seq != int64(i) {
			return fail("sequence_number %v, want %d", e["sequence_number"], i)
		}
		// item looks up the item an event refers to by output_index and
		// checks item_id when the event has one.
		item := func() (*rsItemState, error) {
			oi, err := jsonInt(e["output_index"])
			if err != nil || oi < 0 || oi >= int64(len(items)) {
				return nil, fmt.Errorf("output_index %v of no announced item", e["output_index"])
			}
			it := items[oi]
			if id, ok := e["item_id"]; ok && id != it.id {
				return nil, fmt.Errorf("item_id %v, item %d is %q", id, oi, it.id)
			}
			if it.done {
				return nil, fmt.Errorf("item %d is already done", oi)
			}
			return it, nil
		}
		part := func(it *rsItemState, key string, adding bool) (*rsPartState, error) {
			ci, err := jsonInt(e[key])
			if err != nil || ci < 0 {
				return nil, fmt.Errorf("%s %v", key, e[key])
			}
			if adding {
				if ci != int64(len(it.parts)) {
					return nil, fmt.Errorf("%s %d added, want %d", key, ci, len(it.parts))
				}
				it.parts = append(it.parts, &rsPartState{})
			}
			if ci >= int64(len(it.parts)) {
				return nil, fmt.Errorf("%s %d was never added", key, ci)
			}
			p := it.parts[ci]
			if p.done {
				return nil, fmt.Errorf("%s %d is already done", key, ci)
			}
			return p, nil
		}
		if !started && typ != "response.created" && typ != "response.failed" && typ != "error" {
			return fail("the stream does not begin with response.created")
		}
		if r, ok := e["response"].(map[string]any); ok {
			id, _ := r["id"].(string)
			if respID != "" && id != respID {
				return fail("response id %q, was %q", id, respID)
			}
			respID = id
			if r["object"] != "response" {
				return fail("response object %v", r["object"])
			}
		}
		switch typ {
		case "response.created":
			if started {
				return fail("second response.created")
			}
			started = true
		case "response.in_progress":
			if i != 1 {
				return fail("response.in_progress is not the second event")
			}
		case "response.output_item.added":
			oi, err := jsonInt(e["output_index"])
			if err != nil || oi != int64(len(items)) {
				return fail("output_index %v, want %d", e["output_index"], len(items))
			}
			for j, it := range items {
				if !it.done {
					return fail("item %d added while item %d is open", oi, j)
				}
			}
			m, _ := e["item"].(map[string]any)
			id, _ := m["id"].(string)
			it := &rsItemState{id: id, added: m}
			it.typ, _ = m["type"].(string)
			if id == "" || it.typ == "" {
				return fail("item without id or type")
			}
			items = append(items, it)
		case "response.content_part.added", "response.reasoning_summary_part.added":
			it, err := item()
			if err != nil {
				return fail("%v", err)
			}
			key, want := "content_index", "message"
			if typ == "response.reasoning_summary_part.added" {
				key, want = "summary_index", "reasoning"
			}
			if it.typ != want {
				return fail("%s for a %s item", typ, it.typ)
			}
			if _, err := part(it, key, true); err != nil {
				return fail("%v", err)
			}
		case "response.output_text.delta", "response.reasoning_summary_text.delta", "response.refusal.delta":
			it, err := item()
			if err != nil {
				return fail("%v", err)
			}
			key := "content_index"
			if typ == "response.reasoning_summary_text.delta" {
				key = "summary_index"
			}
			p, err := part(it, key, false)
			if err != nil || p.textDone {
				return fail("delta for a finished or unknown part: %v", err)
			}
			d, _ := e["delta"].(string)
			p.text += d
		case "response.output_text.done", "response.reasoning_summary_text.done", "response.refusal.done":
			it, err := item()
			if err != nil {
				return fail("%v", err)
			}
			key := "content_index"
			if typ == "response.reasoning_summary_text.done" {
				key = "summary_index"
			}
			p, err := part(it, key, false)
			if err != nil || p.textDone {
				return fail("done for a finished or unknown part: %v", err)
			}
			done := e["text"]
			if typ == "response.refusal.done" {
				done = e["refusal"]
			}
			if done != p.text {
				return fail("text %q, deltas gave %q", done, p.text)
			}
			p.textDone = true
		case "response.content_part.done", "response.reasoning_summary_part.done":
			it, err := item()
			if err != nil {
				return fail("%v", err)
			}
			key := "content_index"
			if typ == "response.reasoning_summary_part.done" {
				key = "summary_index"
			}
			p, err := part(it, key, false)
			if err != nil || !p.textDone {
				return fail("part done before its text: %v", err)
			}
			pm, _ := e["part"].(map[string]any)
			if partText(pm) != p.text {
				return fail("part text %q, want %q", pm["text"], p.text)
			}
			p.done = true
		case "response.function_call_arguments.delta", "response.function_call_arguments.done":
			it, err := item()
			if err != nil {
				return fail("%v", err)
			}
			if it.typ != "function_call" || it.argsDone {
				return fail("arguments event for a %s item (arguments done: %v)", it.typ, it.argsDone)
			}
			if typ == "response.function_call_arguments.delta" {
				d, _ := e["delta"].(string)
				it.args += d
			} else {
				if e["arguments"] != it.args {
					return fail("arguments %q, deltas gave %q", e["arguments"], it.args)
				}
				it.argsDone = true
			}
		case "response.custom_tool_call_input.delta", "response.custom_tool_call_input.done":
			it, err := item()
			if err != nil {
				return fail("%v", err)
			}
			if it.typ != "custom_tool_call" || it.inputDone {
				return fail("input event for a %s item", it.typ)
			}
			if typ == "response.custom_tool_call_input.delta" {
				d, _ := e["delta"].(string)
				it.input += d
			} else {
				if e["input"] != it.input {
					return fail("input %q, deltas gave %q", e["input"], it.input)
				}
				it.inputDone = true
			}
		case "response.output_item.done":
			it, err := item()
			if err != nil {
				return fail("%v", err)
			}
			m, _ := e["item"].(map[string]any)
			if m["id"] != it.id || m["type"] != it.typ {
				return fail("done item %v %v, added %q %q", m["id"], m["type"], it.id, it.typ)
			}
			for j, p := range it.parts {
				if !p.done {
					return fail("item done with part %d open", j)
				}
			}
			switch it.typ {
			case "message":
				content, _ := m["content"].([]any)
				if len(content) != len(it.parts) {
					return fail("message has %d parts, %d were streamed", len(content), len(it.parts))
				}
				for j, c := range content {
					cm, _ := c.(map[string]any)
					if partText(cm) != it.parts[j].text {
						return fail("part %d text %q, streamed %q", j, partText(cm), it.parts[j].text)
					}
					if _, ok := cm["annotations"].([]any); !ok && cm["type"] == "output_text" {
						return fail("output_text part without annotations")
					}
					v.text += it.parts[j].text
				}
			case "reasoning":
				summary, ok := m["summary"].([]any)
				if !ok || len(summary) != len(it.parts) {
					return fail("reasoning summary %v, %d parts were streamed", m["summary"], len(it.parts))
				}
				for j, s := range summary {
					if sm, _ := s.(map[string]any); sm["text"] != it.parts[j].text {
						return fail("summary %d text %q, streamed %q", j, sm["text"], it.parts[j].text)
					}
				}
			case "function_call":
				if !it.argsDone || m["arguments"] != it.args {
					return fail("function_call done with arguments %v, streamed %q (done event: %v)", m["arguments"], it.args, it.argsDone)
				}
				callID, _ := m["call_id"].(string)
				if callID == "" || m["name"] == "" {
					return fail("function_call without call_id or name")
				}
				v.args[callID] = it.args
			case "custom_tool_call":
				if !it.inputDone || m["input"] != it.input {
					return fail("custom_tool_call done with input %v, streamed %q", m["input"], it.input)
				}
			}
			it.done, it.doneItem = true, m
			raw, _ := json.Marshal(m)
			v.items = append(v.items, raw)
		case "response.completed", "response.incomplete", "response.failed":
			r, _ := e["response"].(map[string]any)
			want := map[string]string{"response.completed": "completed", "response.incomplete": "incomplete", "response.failed": "failed"}[typ]
			if r["status"] != want {
				return fail("status %v in %s", r["status"], typ)
			}
			if typ != "response.failed" {
				for j, it := range items {
					if !it.done {
						return fail("item %d still open at %s", j, typ)
					}
				}
				if _, ok := r["usage"].(map[string]any); !ok {
					return fail("no usage")
				}
			} else {
				em, _ := r["error"].(map[string]any)
				if em == nil || em["message"] == "" {
					return fail("failed response without error")
				}
				v.errCode, _ = em["code"].(string)
			}
			if (typ == "response.incomplete") != (r["incomplete_details"] != nil) {
				return fail("incomplete_details %v in %s", r["incomplete_details"], typ)
			}
			output, _ := r["output"].([]any)
			if len(output) != len(v.items) {
				return fail("output has %d items, %d were done", len(output), len(v.items))
			}
			for j, o := range output {
				raw, _ := json.Marshal(o)
				if !bytes.Equal(raw, v.items[j]) {
					return fail("output item %d is %s, output_item.done gave %s", j, raw, v.items[j])
				}
			}
			v.terminal, v.response = typ, r
		case "error":
			if m, _ := e["message"].(string); m == "" {
				return fail("error event without message")
			}
			v.errCode, _ = e["code"].(string)
			v.terminal = typ
		default:
			return fail("unexpected event type")
		}
	}
	if v.terminal == "" {
		return v, fmt.Errorf("the stream has no terminal event")
	}
	return v, nil
}

// partText is the text of an output_text or summary part, or a refusal
// part's refusal.
func partText(m map[string]any) any {
	if m["type"] == "refusal" {
		return m["refusal"]
	}
	return m["text"]
}

func jsonInt(v any) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("not a number: %v", v)
	}
	return n.Int64()
}
