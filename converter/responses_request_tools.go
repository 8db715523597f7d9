package converter

import "github.com/aigateway/gateway/converter/jsonx"

// The answer path is stateless, but three Responses tool kinds reach
// Anthropic under another shape (docs/conversion.md, "Responses requests"):
// a custom tool's free text is wrapped as {"input": …}, a local_shell call
// is a tool named local_shell, and a namespace's functions are joined into
// one name. responsesToolRefs reads the request's tools once so that the
// answer for a Responses client can give each tool_use its own item type
// back (custom_tool_call, local_shell_call, function_call with namespace).

// rsToolKind is how a tool was declared in a Responses request.
type rsToolKind uint8

const (
	// rsToolFunction is a function tool: tool_use → function_call.
	rsToolFunction rsToolKind = iota
	// rsToolCustom is a custom (freeform) tool: tool_use input
	// {"input": text} → custom_tool_call with input text.
	rsToolCustom
	// rsToolLocalShell is the local_shell tool: tool_use input (the exec
	// action) → local_shell_call with that action.
	rsToolLocalShell
)

// rsToolRef names the Responses tool behind an Anthropic tool name.
type rsToolRef struct {
	Kind rsToolKind
	// Namespace and Name are the function's own names when it belongs to
	// a namespace tool; Name is the tool's name otherwise.
	Namespace, Name string
}

// responsesToolRefs maps each Anthropic tool name a Responses request
// produces to the tool it stands for, for the tools whose calls do not come
// back as a plain function_call of the same name. Function tools outside a
// namespace are left out: the name is the same on both sides. It reads
// tools and additional_tools input items; a body the translator would
// refuse may give a partial map.
func responsesToolRefs(body []byte) map[string]rsToolRef {
	var req struct {
		Tools []rsReqTool      `json:"tools"`
		Input jsonx.RawMessage `json:"input"`
	}
	if decodeRequest(body, &req) != nil {
		return nil
	}
	tools := req.Tools
	if len(req.Input) > 0 && req.Input[0] == '[' {
		var items []struct {
			Type  string      `json:"type"`
			Tools []rsReqTool `json:"tools"`
		}
		if jsonx.Unmarshal(req.Input, &items) == nil {
			for _, it := range items {
				if it.Type == "additional_tools" {
					tools = append(tools, it.Tools...)
				}
			}
		}
	}
	refs := map[string]rsToolRef{}
	for _, t := range tools {
		switch t.Type {
		case "custom":
			refs[t.Name] = rsToolRef{Kind: rsToolCustom, Name: t.Name}
		case "local_shell":
			refs[localShellToolName] = rsToolRef{Kind: rsToolLocalShell}
		case "namespace":
			for _, inner := range t.Tools {
				refs[namespacedToolName(t.Name, inner.Name)] = rsToolRef{Kind: rsToolFunction, Namespace: t.Name, Name: inner.Name}
			}
		}
	}
	if len(refs) == 0 {
		return nil
	}
	return refs
}
