package converter

// The OpenAI Responses format (POST /v1/responses). Its requests, answers and
// streams are translated to and from the hub by the responses_* files; its
// errors and headers are OpenAI's.

var openAIResponsesCodec = codec{
	inspect: inspectResponsesRequest,
	patch:   patchModel,
	errors:  openAIErrors,
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
