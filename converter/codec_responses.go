package converter

// The OpenAI Responses format (POST /v1/responses). Its requests, answers and
// streams are translated to and from the hub by the responses_* files; its
// errors have OpenAI's shape and its headers are OpenAI's.

var openAIResponsesCodec = codec{
	inspect:    inspectResponsesRequest,
	patch:      patchModel,
	forward:    forwardResponsesResponse,
	passStream: func(opts StreamOptions) eventTranslator { return newResponsesPassStream(opts) },
	hints:      responsesHints,
	errors: errorDialect{
		shape:  openAIErrors.shape,
		status: openAIErrors.status,
		typ:    openAIErrors.typ,
		body:   appendResponsesErrorBody,
		// Outside a stream translator no sequence number is known: the
		// gateway's own error event (an ingress that lost its worker)
		// carries 0.
		streamError: func(dst []byte, e *Error) []byte { return appendResponsesStreamError(dst, e, 0) },
		fields:      openAIErrors.fields,
		translated:  openAIErrors.translated,
	},
	headers: &openAIHeaders,
}

// patchModel applies opts to a same-format request whose only field the
// gateway owns is the model: a Responses request always reports its usage
// and has no required output bound.
func patchModel(body []byte, opts RequestOptions) ([]byte, error) {
	if opts.Model == "" {
		if _, err := walkTopObject(body, func(member) error { return nil }); err != nil {
			return nil, asRequestError(err)
		}
		return body, nil
	}
	return SetModel(body, opts.Model)
}

// responsesHints reads from a Responses request what its answer needs: the
// reasoning summary it asked for, and the tools that reach the hub under
// another shape.
func responsesHints(body []byte) ClientHints {
	var req struct {
		Reasoning *rsReqReasoning `json:"reasoning"`
	}
	var h ClientHints
	if decodeRequest(body, &req) == nil && req.Reasoning != nil {
		s := req.Reasoning.Summary
		if s == "" {
			s = req.Reasoning.GenerateSummary
		}
		h.ReasoningSummary = s != "" && s != "none"
	}
	for name, ref := range responsesToolRefs(body) {
		t := ResponsesTool{Namespace: ref.Namespace, Name: ref.Name}
		switch {
		case ref.Kind == rsToolCustom:
			t.Kind = ResponsesToolCustom
		case ref.Kind == rsToolLocalShell:
			t.Kind = ResponsesToolLocalShell
		case ref.Namespace != "":
			t.Kind = ResponsesToolNamespaced
		default:
			continue
		}
		if h.Tools == nil {
			h.Tools = map[string]ResponsesTool{}
		}
		h.Tools[name] = t
	}
	return h
}
