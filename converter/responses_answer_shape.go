package converter

// ResponsesAnswerShape reads, from a Responses request, what shapes its
// answer: whether the client asked for reasoning summaries
// (reasoning.summary, or the older generate_summary, set and not "none"),
// and the tools that reached Anthropic under another shape, by Anthropic
// name, for ResponseOptions.Tools and StreamOptions.Tools. A body that does
// not decode gives the zero shape: plain function calls, no summary.
func ResponsesAnswerShape(body []byte) (reasoningSummary bool, tools map[string]ResponsesTool) {
	var req struct {
		Reasoning *struct {
			Summary         string `json:"summary"`
			GenerateSummary string `json:"generate_summary"`
		} `json:"reasoning"`
	}
	if decodeRequest(body, &req) == nil && req.Reasoning != nil {
		s := cmpModel(req.Reasoning.Summary, req.Reasoning.GenerateSummary)
		reasoningSummary = s != "" && s != "none"
	}
	refs := responsesToolRefs(body)
	if len(refs) == 0 {
		return reasoningSummary, nil
	}
	tools = make(map[string]ResponsesTool, len(refs))
	for name, r := range refs {
		switch {
		case r.Kind == rsToolCustom:
			tools[name] = ResponsesTool{Kind: ResponsesToolCustom}
		case r.Kind == rsToolLocalShell:
			tools[name] = ResponsesTool{Kind: ResponsesToolLocalShell}
		case r.Namespace != "":
			tools[name] = ResponsesTool{Kind: ResponsesToolNamespaced, Namespace: r.Namespace, Name: r.Name}
		}
	}
	return reasoningSummary, tools
}
