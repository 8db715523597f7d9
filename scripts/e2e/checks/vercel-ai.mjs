// The Vercel AI SDK: @ai-sdk/openai through .chat(...) (Chat Completions)
// and @ai-sdk/anthropic, each against both upstream formats.

import assert from 'node:assert/strict';
import { generateText, streamText, tool, stepCountIs } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { createAnthropic } from '@ai-sdk/anthropic';
import { z } from 'zod';
import {
  clientKey, routes, question, echo, weatherArgs, weatherResult, timeResult, timeArgs, toolResultsAnswer,
} from '../lib/targets.mjs';

// The SDK warns, once per call, that it does not know the limits of a model
// it is pointed at through another provider's API (gpt-4o behind the
// Anthropic API); the checks do not depend on them.
globalThis.AI_SDK_LOG_WARNINGS = false;

// tools the model may call; execute records what it was called with.
function recordingTools(seen) {
  return {
    get_weather: tool({
      description: 'Weather in a city',
      inputSchema: z.object({ city: z.string().describe('City name') }),
      execute: async (input) => { seen.push(['get_weather', input]); return weatherResult; },
    }),
    get_time: tool({
      description: 'Time in a zone',
      inputSchema: z.object({ tz: z.string().describe('IANA time zone') }),
      execute: async (input) => { seen.push(['get_time', input]); return timeResult; },
    }),
  };
}

export function checks({ gatewayURL }) {
  const r = routes(gatewayURL);
  const models = [];
  for (const route of r.openai) {
    const provider = createOpenAI({ apiKey: clientKey, baseURL: route.baseURL });
    models.push({ label: `@ai-sdk/openai .chat (${route.upstream} upstream)`, model: provider.chat(route.model) });
  }
  for (const route of r.anthropic) {
    const provider = createAnthropic({ apiKey: clientKey, baseURL: `${route.baseURL}/v1` });
    models.push({ label: `@ai-sdk/anthropic (${route.upstream} upstream)`, model: provider(route.model) });
  }

  const list = [];
  for (const { label, model } of models) {
    list.push({
      name: `ai sdk: generateText, ${label}`,
      timeoutMs: 20_000,
      run: async ({ signal }) => {
        const res = await generateText({ model, prompt: question, maxRetries: 0, abortSignal: signal });
        assert.equal(res.text, echo);
        assert.equal(res.finishReason, 'stop');
        assert.ok(res.usage.inputTokens > 0 && res.usage.outputTokens > 0, `usage ${JSON.stringify(res.usage)}`);
      },
    });
    list.push({
      name: `ai sdk: streamText, ${label}`,
      timeoutMs: 20_000,
      run: async ({ signal }) => {
        const errors = [];
        const res = streamText({
          model, prompt: question, maxRetries: 0, abortSignal: signal,
          onError: ({ error }) => errors.push(error),
        });
        let text = '';
        let parts = 0;
        for await (const delta of res.textStream) {
          text += delta;
          parts++;
        }
        if (errors.length) throw errors[0];
        assert.equal(text, echo);
        assert.ok(parts > 1, `the text came in ${parts} part(s), not as a stream`);
        assert.equal(await res.finishReason, 'stop');
      },
    });
    list.push({
      name: `ai sdk: generateText with tools, two steps, ${label}`,
      timeoutMs: 30_000,
      run: async ({ signal }) => {
        const seen = [];
        const res = await generateText({
          model, prompt: question, tools: recordingTools(seen), stopWhen: stepCountIs(3),
          maxRetries: 0, abortSignal: signal,
        });
        assert.deepEqual(seen, [['get_weather', weatherArgs], ['get_time', timeArgs]]);
        assert.equal(res.steps.length, 2);
        assert.equal(res.text, toolResultsAnswer(weatherResult, timeResult));
      },
    });
    list.push({
      name: `ai sdk: streamText with tools, two steps, ${label}`,
      timeoutMs: 30_000,
      run: async ({ signal }) => {
        const seen = [];
        const errors = [];
        const res = streamText({
          model, prompt: question, tools: recordingTools(seen), stopWhen: stepCountIs(3),
          maxRetries: 0, abortSignal: signal, onError: ({ error }) => errors.push(error),
        });
        let text = '';
        for await (const delta of res.textStream) text += delta;
        if (errors.length) throw errors[0];
        assert.deepEqual(seen, [['get_weather', weatherArgs], ['get_time', timeArgs]]);
        assert.equal(text, toolResultsAnswer(weatherResult, timeResult));
      },
    });
  }
  return list;
}
