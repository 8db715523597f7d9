package converter

// The x_openai object of intermediate hub bodies, for the Chat Completions
// translators: what a Chat client asked for that Anthropic has no place for
// (chatXOpenAI), and how a hub body's x_openai is written back to a Chat
// request (applyXOpenAIToChat).

// chatXOpenAI collects the OpenAI-only fields of a Chat request. The fields
// refuseOpenAIOnlyFields refuses for Anthropic are carried instead, so the
// format the hub body goes to next decides on them; the deprecated
// functions and function_call stay refused for every target.
func chatXOpenAI(req *oaRequest) (*rsReqXOpenAI, error) {
	if !isNullRaw(req.Functions) {
		return nil, InvalidParam("functions", "functions is deprecated and not supported: use tools")
	}
	if !isNullRaw(req.FunctionCall) {
		return nil, InvalidParam("function_call", "function_call is deprecated and not supported: use tool_choice")
	}
	x := &rsReqXOpenAI{
		ServiceTier:       req.ServiceTier,
		PromptCacheKey:    req.PromptCacheKey,
		Store:             req.Store,
		Metadata:          req.Metadata,
		Verbosity:         req.Verbosity,
		ParallelToolCalls: req.ParallelToolCalls,
		User:              req.User,
		SafetyIdentifier:  req.SafetyIdentifier,
		ReasoningEffort:   req.ReasoningEffort,
		Logprobs:          req.Logprobs,
		TopLogprobs:       req.TopLogprobs,
		Audio:             req.Audio,
		WebSearchOptions:  req.WebSearchOptions,
	}
	if req.N != nil && *req.N > 1 {
		x.N = req.N
	}
	for _, m := range req.Modalities {
		if m != "text" {
			x.Modalities = req.Modalities
			break
		}
	}
	if t := req.Temperature; t != nil && (*t < 0 || *t > 1) {
		x.Temperature = t
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type == "json_object" {
		x.ResponseFormat = "json_object"
	}
	if x.isZero() {
		return nil, nil
	}
	return x, nil
}

// applyXOpenAIToChat writes a hub body's x_openai into a Chat request: the
// client's own values win over what the hub's fields approximate (the
// end-user id made opaque, reasoning effort bucketed by budget, a clamped
// temperature).
func applyXOpenAIToChat(out *oaRequest, x *rsReqXOpenAI) {
	if x == nil {
		return
	}
	if x.User != "" {
		out.User = x.User
	}
	if x.ReasoningEffort != "" {
		out.ReasoningEffort = x.ReasoningEffort
		// Reasoning models take only max_completion_tokens.
		if out.MaxTokens != nil {
			out.MaxCompletionTokens, out.MaxTokens = out.MaxTokens, nil
		}
	}
	if x.Temperature != nil {
		out.Temperature = x.Temperature
	}
	if x.TopP != nil {
		out.TopP = x.TopP
	}
	if x.ParallelToolCalls != nil && len(out.Tools) > 0 {
		out.ParallelToolCalls = x.ParallelToolCalls
	}
	if x.ResponseFormat == "json_object" && out.ResponseFormat == nil {
		out.ResponseFormat = &oaResponseFormat{Type: "json_object"}
	}
	out.ServiceTier = x.ServiceTier
	out.PromptCacheKey = x.PromptCacheKey
	out.Store = x.Store
	out.Metadata = x.Metadata
	out.Verbosity = x.Verbosity
	out.SafetyIdentifier = x.SafetyIdentifier
	out.Logprobs = x.Logprobs
	out.TopLogprobs = x.TopLogprobs
	if x.TopLogprobs != nil && out.Logprobs == nil {
		// Chat returns top_logprobs only with logprobs on; the Responses
		// client that set it asked for them.
		t := true
		out.Logprobs = &t
	}
	// n, audio, modalities and web_search_options come only from a Chat
	// client, whose requests never reach a Chat upstream through the hub:
	// they are not written, so that an Anthropic client cannot ask for
	// several choices, which the answer path does not expect, through the
	// extension.
}

// keepDroppedSampling records in x the client's temperature and top_p that
// the hub body lost to Anthropic's rules, so that the OpenAI format the body
// goes to next gets them back.
func keepDroppedSampling(x *rsReqXOpenAI, out *anRequest, temperature, topP *float64) {
	if temperature != nil && out.Temperature == nil {
		x.Temperature = temperature
	}
	if topP != nil && out.TopP == nil {
		x.TopP = topP
	}
}
