package converter

import (
	"github.com/aigateway/gateway/converter/jsonx"
)

// emptyObjectSchema is the schema of a tool that takes no arguments.
var emptyObjectSchema = jsonx.RawMessage(`{"type":"object","properties":{}}`)

// normaliseToolSchema returns a tool's parameter schema in the shape both
// providers require: a JSON object whose top-level "type" is "object".
// Clients often send {} or leave "type" out (many JSON Schema generators do),
// which OpenAI and Anthropic both refuse; such schemas get "type": "object"
// added in front, the rest of the bytes unchanged. A schema of another type
// cannot describe named arguments and is refused.
func normaliseToolSchema(raw jsonx.RawMessage, param string) (jsonx.RawMessage, error) {
	if isNullRaw(raw) {
		return emptyObjectSchema, nil
	}
	hasType, hasMembers := false, false
	var typeErr error
	_, err := walkTopObject(raw, func(m member) error {
		hasMembers = true
		if !keyIs(raw, m, "type") {
			return nil
		}
		hasType = true
		if typ, ok := valueString(raw, m); !ok || typ != "object" {
			typeErr = InvalidParam(param+".type", "a tool's parameter schema must have type \"object\", got %s", raw[m.valStart:m.valEnd])
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, InvalidParam(param, "a tool's parameter schema must be a JSON object")
	case typeErr != nil:
		return nil, typeErr
	case hasType:
		return raw, nil
	case !hasMembers:
		return emptyObjectSchema, nil
	}
	start := skipSpace(raw, 0)
	out := make(jsonx.RawMessage, 0, len(raw)+16)
	out = append(out, raw[:start+1]...)
	out = append(out, `"type":"object",`...)
	return append(out, raw[start+1:]...), nil
}

// meetsOpenAIStrict reports whether a JSON schema meets the rules OpenAI
// enforces on strict schemas (structured outputs): every object lists all
// of its properties in "required" and sets "additionalProperties": false,
// at every level, including array items, $defs and anyOf branches, the root
// is an object, and no unsupported keyword (allOf, oneOf, not,
// propertyNames, …) appears. OpenAI
// refuses a strict schema that breaks them; a schema that does not meet them
// is sent without strict, which OpenAI then follows on a best-effort basis.
func meetsOpenAIStrict(raw jsonx.RawMessage) bool {
	var schema map[string]any
	if jsonx.Unmarshal(raw, &schema) != nil || !isObjectType(schema["type"]) {
		return false
	}
	return strictNode(schema, 0)
}

func strictNode(node any, depth int) bool {
	if depth > 32 {
		return false
	}
	obj, ok := node.(map[string]any)
	if !ok {
		return true
	}
	// Keywords strict mode does not support.
	for _, key := range [...]string{"allOf", "oneOf", "not", "propertyNames", "patternProperties", "unevaluatedProperties", "if", "dependentRequired", "dependentSchemas"} {
		if _, ok := obj[key]; ok {
			return false
		}
	}
	if isObjectType(obj["type"]) {
		if ap, ok := obj["additionalProperties"].(bool); !ok || ap {
			return false
		}
		props, _ := obj["properties"].(map[string]any)
		required := map[string]bool{}
		if list, ok := obj["required"].([]any); ok {
			for _, r := range list {
				if name, ok := r.(string); ok {
					required[name] = true
				}
			}
		}
		for name := range props {
			if !required[name] {
				return false
			}
		}
	}
	for _, key := range [...]string{"properties", "$defs", "definitions"} {
		if m, ok := obj[key].(map[string]any); ok {
			for _, sub := range m {
				if !strictNode(sub, depth+1) {
					return false
				}
			}
		}
	}
	if list, ok := obj["anyOf"].([]any); ok {
		for _, sub := range list {
			if !strictNode(sub, depth+1) {
				return false
			}
		}
	}
	if items, ok := obj["items"]; ok && !strictNode(items, depth+1) {
		return false
	}
	return true
}

// isObjectType reports a schema "type" of "object", alone or in a list
// (["object", "null"]).
func isObjectType(t any) bool {
	switch v := t.(type) {
	case string:
		return v == "object"
	case []any:
		for _, e := range v {
			if e == "object" {
				return true
			}
		}
	}
	return false
}
