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

// responsesHints reads from a Responses request what its answer needs
// (ResponsesAnswerShape).
func responsesHints(body []byte) ClientHints {
	summary, tools := ResponsesAnswerShape(body)
	return ClientHints{ReasoningSummary: summary, Tools: tools}
}
