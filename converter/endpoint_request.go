package converter

import "github.com/aigateway/gateway/converter/jsonx"

// InspectEmbeddings validates that body is an OpenAI embeddings request (a
// JSON object with a string model and an input that is a string or a
// non-empty array) and reads its model. Errors are *Error of kind
// KindInvalidRequest naming the field at fault, as OpenAI names it.
func InspectEmbeddings(body []byte) (RequestInfo, error) {
	var info RequestInfo
	sawModel, sawInput := false, false
	_, err := walkTopObject(body, func(m member) error {
		switch {
		case keyIs(body, m, "model"):
			s, ok := valueString(body, m)
			if !ok {
				return InvalidParam("model", "model must be a string")
			}
			info.Model, sawModel = s, s != ""
		case keyIs(body, m, "input"):
			switch valueKind(body, m) {
			case '"':
			case '[':
				if m.valEnd-m.valStart < 3 && string(body[m.valStart:m.valEnd]) == "[]" {
					return InvalidParam("input", "input must not be empty")
				}
			default:
				return InvalidParam("input", "input must be a string, an array of strings, or an array of token arrays")
			}
			sawInput = true
		}
		return nil
	})
	switch {
	case err != nil:
		return RequestInfo{}, asRequestError(err)
	case !sawModel:
		return RequestInfo{}, InvalidParam("model", "you must provide a model parameter")
	case !sawInput:
		return RequestInfo{}, InvalidParam("input", "input is required")
	}
	return info, nil
}

// SetModel returns body, a JSON object, with every top-level "model" value
// replaced by model (inserted when absent), and nothing else re-encoded. The
// returned slice may alias body when nothing had to change.
func SetModel(body []byte, model string) ([]byte, error) {
	var models []member
	empty := true
	openBrace, err := walkTopObject(body, func(m member) error {
		empty = false
		if keyIs(body, m, "model") {
			models = append(models, m)
		}
		return nil
	})
	if err != nil {
		return nil, asRequestError(err)
	}
	q := jsonx.AppendString(nil, model)
	var edits []splice
	for _, m := range models {
		if string(body[m.valStart:m.valEnd]) != string(q) {
			edits = append(edits, splice{m.valStart, m.valEnd, q})
		}
	}
	if len(models) == 0 {
		text := append([]byte(`"model":`), q...)
		if !empty {
			text = append(text, ',')
		}
		edits = append(edits, splice{openBrace + 1, openBrace + 1, text})
	}
	if len(edits) == 0 {
		return body, nil
	}
	return applySplices(body, edits), nil
}
