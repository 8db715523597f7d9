package converter

// inspectResponsesRequest is InspectRequest for the Responses format: it
// validates that body is one well-formed JSON object and reads model,
// stream and max_output_tokens (RequestInfo.MaxTokens) with the exact-key
// scanner, in one pass and without decoding input. Errors are *Error of
// kind KindInvalidRequest, with Param set when a field is at fault.
//
// input may be absent (a request can build on stored state), but when
// present it must be a string or an array, the shapes the translators
// accept.
func inspectResponsesRequest(body []byte) (RequestInfo, error) {
	var info RequestInfo
	_, err := walkTopObject(body, func(m member) error {
		switch {
		case keyIs(body, m, "model"):
			s, err := inspectModel(body, m)
			if err != nil {
				return err
			}
			info.Model = s
		case keyIs(body, m, "input"):
			switch valueKind(body, m) {
			case '"', '[', 'n':
			default:
				return InvalidParam("input", "input must be a string or an array of items")
			}
		case keyIs(body, m, "stream"):
			v, err := inspectStream(body, m)
			if err != nil {
				return err
			}
			info.Stream = v
		case keyIs(body, m, "max_output_tokens"):
			n, err := inspectMaxTokens(body, m, "max_output_tokens")
			if err != nil {
				return err
			}
			info.MaxTokens = n
		}
		return nil
	})
	if err != nil {
		return RequestInfo{}, asRequestError(err)
	}
	return info, nil
}

// rsAdmittedFields are the members inspectResponsesRequest reads, read the
// same way (exact keys, escapes decoded, the last occurrence winning), so
// that the translators send what admission saw whatever the JSON codec does
// with keys (see request_decode.go).
type rsAdmittedFields struct {
	model     string
	stream    bool
	maxOutput *int64
}

// readResponsesAdmitted reads the admitted fields of a validated body;
// values of the wrong type read as zero, and the typed decode refuses them.
func readResponsesAdmitted(body []byte) rsAdmittedFields {
	var a rsAdmittedFields
	_, _ = walkTopObject(body, func(m member) error {
		switch {
		case keyIs(body, m, "model"):
			a.model, _ = valueString(body, m)
		case keyIs(body, m, "stream"):
			a.stream, _ = valueBool(body, m)
		case keyIs(body, m, "max_output_tokens"):
			a.maxOutput = valueIntPtr(body, m)
		}
		return nil
	})
	return a
}

// pin sets the admitted fields of a decoded request to the exact reading.
func (a rsAdmittedFields) pin(req *rsReqRequest) {
	req.Model, req.Stream, req.MaxOutputTokens = a.model, a.stream, a.maxOutput
}
