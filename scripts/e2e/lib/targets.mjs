// Where each client points, and what the mock upstream answers, so every
// check can say what it expects.

// The key clients send. Access control is off in the default
// configuration, so any key passes the gateway; the gateway must never
// forward it (the mock accepts only the gateway's own provider key).
export const clientKey = 'sk-e2e-client';

// routes lists, for each client dialect, the gateway paths that serve it
// from each upstream format: the same-format route and the cross-format one.
export function routes(gatewayURL) {
  return {
    openai: [
      { upstream: 'openai', baseURL: `${gatewayURL}/v1`, model: 'gpt-4o' },
      { upstream: 'anthropic', baseURL: `${gatewayURL}/anthropic/v1`, model: 'claude-sonnet-4-6' },
    ],
    // The Responses API (POST <base>/responses): the default configuration
    // serves it at /v1/responses from the OpenAI upstream and beside every
    // chat route, so /anthropic/v1/responses reaches the Anthropic upstream.
    responses: [
      { upstream: 'openai', baseURL: `${gatewayURL}/v1`, model: 'gpt-4o' },
      { upstream: 'anthropic', baseURL: `${gatewayURL}/anthropic/v1`, model: 'claude-sonnet-4-6' },
    ],
    // Anthropic clients take the URL without /v1 (the SDKs append
    // /v1/messages); @ai-sdk/anthropic wants it with /v1.
    anthropic: [
      { upstream: 'anthropic', baseURL: gatewayURL, model: 'claude-sonnet-4-6' },
      { upstream: 'openai', baseURL: `${gatewayURL}/openai`, model: 'gpt-4o' },
    ],
  };
}

// The mock upstream echoes the last user message and calls the first two
// declared tools with arguments made from their schemas' property names.
export const question = 'What is the weather in Paris?';
export const echo = `Hello! You said: ${question}`;
export const weatherArgs = { city: 'value-city' };
export const timeArgs = { tz: 'value-tz' };
export const weatherResult = 'sunny, 21 C';
export const timeResult = '14:05';
// The mock's answer to a turn of tool results quotes them in order.
export const toolResultsAnswer = (...results) => `Tool results: ${results.join('; ')}`;

// JSON schemas of the two tools, as plain objects.
export const weatherSchema = {
  type: 'object',
  properties: { city: { type: 'string', description: 'City name' } },
  required: ['city'],
};
export const timeSchema = {
  type: 'object',
  properties: { tz: { type: 'string', description: 'IANA time zone' } },
  required: ['tz'],
};
