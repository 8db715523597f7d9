// Package mock is a fake upstream provider: a real HTTP server on loopback
// that speaks the OpenAI Chat Completions API (POST /v1/chat/completions),
// the OpenAI Responses API (POST /v1/responses) and the Anthropic Messages
// API (POST /v1/messages), as JSON and as server-sent events, with the
// providers' exact wire formats, error shapes and headers.
//
// The gateway's tests, benchmarks and demos use it as the upstream, so its
// answers are deterministic and derived from the request:
//
//   - Text answer: "Hello! You said: <text>", where <text> is the text of the
//     last user message (its text parts joined with a space), cut to its first
//     200 bytes at a character boundary. When that message holds images,
//     " [N image(s)]" is appended. When the last user turn holds tool results
//     (OpenAI tool messages, Anthropic tool_result blocks, Responses
//     function_call_output items), the answer is
//     "Tool results: <texts joined with "; ">" instead.
//   - Tool calls: when the request declares tools, tool_choice is not "none"
//     and the last message is a user message without tool results, the answer
//     calls the declared tools (at most 2, in declaration order; only the
//     named one when tool_choice names a tool; only the first when parallel
//     calls are disabled). Each call's arguments are a JSON object built from
//     the tool schema's property names in sorted order: strings become
//     "value-<name>", numbers and integers 1, booleans true, arrays [] and
//     objects {}. The answer then has no text; finish_reason is "tool_calls"
//     (OpenAI) or stop_reason "tool_use" (Anthropic).
//   - Thinking: an Anthropic request with thinking.type "enabled" or
//     "adaptive" gets a thinking block first, with a signature. A Responses
//     request with reasoning (effort other than "none") gets a reasoning
//     item first; see responses.go.
//   - Streaming: the text is split into Config.Chunks deltas of roughly equal
//     size (fewer when the text has fewer characters); tool arguments are
//     streamed in up to 3 fragments per call, thinking in up to 3 deltas.
//   - Stop sequences: when a stop sequence occurs in the text, the text is cut
//     before it (finish_reason "stop", stop_reason "stop_sequence").
//   - max_tokens / max_completion_tokens below the number of text chunks keeps
//     only that many chunks (finish_reason "length", stop_reason
//     "max_tokens"). Tool-call answers are not truncated.
//
// Usage is deterministic too. Let P = len(request body)/4, at least 1. When
// the body contains "cache_control" anywhere, C = P/2 tokens count as read
// from the cache, otherwise C = 0. OpenAI reports prompt_tokens = P and
// prompt_tokens_details.cached_tokens = C; Anthropic reports input_tokens =
// P-C and cache_read_input_tokens = C, so that the two agree after the usual
// conversion (prompt = input + cache read + cache creation). Cache creation is
// always 0. Output tokens are the number of content deltas of the answer:
// text chunks, thinking deltas and tool argument fragments, streamed or not.
//
// Config.ScriptFile replaces the answer of chosen requests with written text
// or tool calls; see script.go.
//
// Behaviour is set by [Config] and can be changed between requests with
// [Server.SetConfig]; most knobs can also be set per request with headers
// (X-Mock-Latency, X-Mock-Chunks, X-Mock-Gap, X-Mock-Status,
// X-Mock-Disconnect-After, X-Mock-Hang, X-Mock-Replay), which win over the
// Config.
package mock
