package converter

import (
	encjson "encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/jsonx"
)

// responsesRequestDirs maps the testdata/request sub-directories of the
// Responses request translators to their functions.
var responsesRequestDirs = []struct {
	dir       string
	translate func([]byte, RequestOptions) ([]byte, error)
	// to is the format written, for the structural checks.
	to format.Format
}{
	{"responses_to_anthropic", responsesToAnthropicRequest, format.Anthropic},
	{"anthropic_to_responses", anthropicToResponsesRequest, format.OpenAIResponses},
	// The spoke-to-spoke paths composed through an intermediate hub body.
	{"openai_to_responses_via_hub", viaHub(openAIToAnthropicRequest, anthropicToResponsesRequest), format.OpenAIResponses},
	{"responses_to_openai_via_hub", viaHub(responsesToAnthropicRequest, anthropicToOpenAIRequest), format.OpenAIChat},
}

// viaHub composes a translation to the hub, made with Intermediate set, and
// one from the hub; opts go to both (Intermediate only to the first).
func viaHub(toHub, fromHub func([]byte, RequestOptions) ([]byte, error)) func([]byte, RequestOptions) ([]byte, error) {
	return func(body []byte, opts RequestOptions) ([]byte, error) {
		first := opts
		first.Intermediate = true
		hub, err := toHub(body, first)
		if err != nil {
			return nil, err
		}
		opts.Intermediate = false
		return fromHub(hub, opts)
	}
}

// TestResponsesRequestGolden runs every case of the Responses request
// directories like TestTranslateRequestGolden: <case>.want.json for a
// translation, <case>.err.json (the client's OpenAI-shaped error body) for
// a refusal.
func TestResponsesRequestGolden(t *testing.T) {
	total := 0
	for _, d := range responsesRequestDirs {
		for _, name := range requestCases(t, d.dir) {
			total++
			t.Run(d.dir+"/"+name, func(t *testing.T) {
				in, opts := readCase(t, d.dir, name)
				base := filepath.Join("testdata", "request", d.dir, name)
				got, err := d.translate(in, opts)
				if err != nil {
					var e *Error
					if !errors.As(err, &e) {
						t.Fatalf("error is %T, want *Error: %v", err, err)
					}
					if e.Kind != KindInvalidRequest {
						t.Errorf("kind = %d, want KindInvalidRequest", e.Kind)
					}
					if _, statErr := os.Stat(base + ".want.json"); statErr == nil && !*update {
						t.Fatalf("unexpected error %v (a .want.json exists)", err)
					}
					checkGolden(t, base+".err.json", indentJSON(t, AppendErrorBody(nil, format.OpenAIChat, e, "")))
					return
				}
				if _, statErr := os.Stat(base + ".err.json"); statErr == nil && !*update {
					t.Fatalf("translation succeeded, want the error in %s.err.json:\n%s", base, got)
				}
				if !jsonx.Valid(got) || !encjson.Valid(got) {
					t.Fatalf("output is not valid JSON:\n%s", got)
				}
				checkGolden(t, base+".want.json", indentJSON(t, got))
				switch {
				case d.to == format.Anthropic && !opts.Intermediate:
					checkAnthropicInvariants(t, got)
				case d.to == format.OpenAIResponses:
					checkResponsesInvariants(t, got)
				case d.to == format.OpenAIChat:
					checkOpenAIInvariants(t, got)
				}
				if opts.Intermediate {
					return
				}
				if strings.Contains(string(got), `"x_openai"`) {
					t.Error("x_openai written outside intermediate mode")
				}
			})
		}
	}
	if total < 60 {
		t.Errorf("only %d Responses request cases found", total)
	}
}

// checkResponsesInvariants enforces what the Responses API checks on a
// request the gateway writes: every function_call_output answers an earlier
// function_call, arguments are JSON text, reasoning items carry a summary
// array, function tools say whether they are strict (the API's default is
// strict), max_output_tokens is at least 16, and a stateless request that
// reasons asks for the encrypted reasoning back.
func checkResponsesInvariants(t *testing.T, body []byte) {
	t.Helper()
	var r struct {
		Input           []map[string]encjson.RawMessage `json:"input"`
		Tools           []map[string]encjson.RawMessage `json:"tools"`
		MaxOutputTokens *int64                          `json:"max_output_tokens"`
		Store           *bool                           `json:"store"`
		Reasoning       *struct{ Effort string }        `json:"reasoning"`
		Include         []string                        `json:"include"`
	}
	if err := encjson.Unmarshal(body, &r); err != nil {
		t.Fatalf("not a Responses request: %v", err)
	}
	calls := map[string]bool{}
	for i, it := range r.Input {
		var typ, callID string
		_ = encjson.Unmarshal(it["type"], &typ)
		_ = encjson.Unmarshal(it["call_id"], &callID)
		switch typ {
		case "function_call":
			calls[callID] = true
			var args string
			if encjson.Unmarshal(it["arguments"], &args) != nil || !encjson.Valid([]byte(args)) {
				t.Errorf("input[%d]: arguments %s are not JSON text", i, it["arguments"])
			}
		case "function_call_output":
			if !calls[callID] {
				t.Errorf("input[%d]: output for unknown call %q", i, callID)
			}
		case "reasoning":
			if len(it["summary"]) == 0 || it["summary"][0] != '[' {
				t.Errorf("input[%d]: reasoning without a summary array", i)
			}
		case "message":
		default:
			t.Errorf("input[%d]: unexpected item type %q", i, typ)
		}
	}
	for i, tool := range r.Tools {
		var typ string
		_ = encjson.Unmarshal(tool["type"], &typ)
		if _, ok := tool["strict"]; typ == "function" && !ok {
			t.Errorf("tools[%d]: function tool without strict", i)
		}
	}
	if r.MaxOutputTokens != nil && *r.MaxOutputTokens < minResponsesOutputTokens {
		t.Errorf("max_output_tokens %d below the API's minimum", *r.MaxOutputTokens)
	}
	if r.Reasoning != nil && r.Reasoning.Effort != "none" && r.Store != nil && !*r.Store && !contains(r.Include, includeEncryptedReasoning) {
		t.Error("stateless reasoning request without reasoning.encrypted_content")
	}
}

// TestInspectResponsesAgreesWithTranslation: every golden input the
// translator accepts is admitted, and every input admission refuses is
// refused by the translator too, on the same field.
func TestInspectResponsesAgreesWithTranslation(t *testing.T) {
	for _, name := range requestCases(t, "responses_to_anthropic") {
		in, opts := readCase(t, "responses_to_anthropic", name)
		_, inspectErr := inspectResponsesRequest(in)
		_, err := responsesToAnthropicRequest(in, opts)
		if err == nil && inspectErr != nil {
			t.Errorf("%s: translated but not admitted: %v", name, inspectErr)
		}
		var ie, te *Error
		if errors.As(inspectErr, &ie) && errors.As(err, &te) && ie.Param != "" && ie.Param != te.Param {
			t.Errorf("%s: admission refuses %q, translation %q", name, ie.Param, te.Param)
		}
	}
}

func TestResponsesToolRefs(t *testing.T) {
	in, _ := readCase(t, "responses_to_anthropic", "codex_multi_turn_tool_loop")
	refs := responsesToolRefs(in)
	want := map[string]rsToolRef{
		"apply_patch":       {Kind: rsToolCustom, Name: "apply_patch"},
		"mcp__docs__search": {Kind: rsToolFunction, Namespace: "mcp__docs__", Name: "search"},
	}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("refs = %+v, want %+v", refs, want)
	}
	// Every name in the map is a tool the translation declares.
	out, err := responsesToAnthropicRequest(in, RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got anRequest
	if err := encjson.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, tool := range got.Tools {
		declared[tool.Name] = true
	}
	for name := range refs {
		if !declared[name] {
			t.Errorf("%s is not a tool of the translated request", name)
		}
	}
	shell := []byte(`{"model":"m","input":[{"type":"additional_tools","tools":[{"type":"local_shell"}]}]}`)
	if r := responsesToolRefs(shell); r[localShellToolName].Kind != rsToolLocalShell {
		t.Errorf("local_shell from additional_tools: %+v", r)
	}
	if r := responsesToolRefs([]byte(`{"model":"m","tools":[{"type":"function","name":"f"}]}`)); r != nil {
		t.Errorf("plain functions need no reference: %+v", r)
	}
}

// TestXOpenAIOnlyInIntermediateBodies: no Chat or Responses translation to
// Anthropic writes x_openai unless the body is an intermediate one, so the
// extension never reaches an Anthropic upstream.
func TestXOpenAIOnlyInIntermediateBodies(t *testing.T) {
	for _, d := range []struct {
		dir       string
		translate func([]byte, RequestOptions) ([]byte, error)
	}{
		{"openai_to_anthropic", openAIToAnthropicRequest},
		{"responses_to_anthropic", responsesToAnthropicRequest},
	} {
		for _, name := range requestCases(t, d.dir) {
			in, opts := readCase(t, d.dir, name)
			opts.Intermediate = false
			out, err := d.translate(in, opts)
			if err == nil && strings.Contains(string(out), `"x_openai"`) {
				t.Errorf("%s/%s: x_openai in a body for Anthropic", d.dir, name)
			}
		}
	}
}
