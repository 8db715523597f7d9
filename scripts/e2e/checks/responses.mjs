// The OpenAI Responses API (POST /v1/responses) with the official `openai`
// package (client.responses.create, plain and streamed, and a function-call
// round trip) and with the AI SDK's default `openai(...)` provider, which
// speaks the Responses API: generateText, streamText and a tool loop. Each
// against both upstream formats.

import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { generateText, streamText, tool, stepCountIs } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { z } from 'zod';
import {
  clientKey, routes, question, echo, weatherArgs, timeArgs, weatherResult, timeResult,
  toolResultsAnswer, weatherSchema, timeSchema,
} from '../lib/targets.mjs';

globalThis.AI_SDK_LOG_WARNINGS = false;

const functionTools = [
  { type: 'function', name: 'get_weather', description: 'Weather in a city', parameters: weatherSchema, strict: false },
  { type: 'function', name: 'get_time', description: 'Time in a zone', parameters: timeSchema, strict: false },
];

// checkEvents asserts the Responses stream grammar on a list of events:
// numbered from 0, opened by response.created, closed by one terminal
// event, every delta inside its item, deltas adding up to the done events.
// It returns the terminal event.
export function checkEvents(events) {
  assert.ok(events.length > 0, 'no events');
  assert.equal(events[0].type, 'response.created', `first event ${events[0].type}`);
  const open = new Map(); // output_index -> { id, text, args }
  let terminal;
  events.forEach((ev, i) => {
    assert.equal(ev.sequence_number, i, `event ${i} (${ev.type}) has sequence_number ${ev.sequence_number}`);
    assert.equal(terminal, undefined, `event ${i} (${ev.type}) after the terminal ${terminal?.type}`);
    switch (ev.type) {
      case 'response.output_item.added':
        open.set(ev.output_index, { id: ev.item.id, text: '', args: '' });
        break;
      case 'response.output_text.delta':
      case 'response.function_call_arguments.delta': {
        const item = open.get(ev.output_index);
        assert.ok(item && item.id === ev.item_id, `event ${i} (${ev.type}) outside its item`);
        if (ev.type === 'response.output_text.delta') item.text += ev.delta; else item.args += ev.delta;
        break;
      }
      case 'response.output_text.done':
        assert.equal(ev.text, open.get(ev.output_index)?.text, `event ${i}: done text differs from the deltas`);
        break;
      case 'response.function_call_arguments.done':
        assert.equal(ev.arguments, open.get(ev.output_index)?.args, `event ${i}: done arguments differ from the deltas`);
        break;
      case 'response.completed':
      case 'response.incomplete':
      case 'response.failed':
      case 'error':
        terminal = ev;
        break;
      default:
    }
  });
  assert.ok(terminal, `no terminal event after ${events.map((e) => e.type).join(', ')}`);
  return terminal;
}

function outputText(response) {
  return response.output.filter((o) => o.type === 'message')
    .flatMap((o) => o.content).filter((c) => c.type === 'output_text').map((c) => c.text).join('');
}

// tools the AI SDK model may call; execute records what it was called with.
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
  const list = [];
  for (const route of routes(gatewayURL).responses) {
    const client = new OpenAI({ apiKey: clientKey, baseURL: route.baseURL, maxRetries: 0 });
    list.push({
      name: `openai sdk: responses.create (${route.upstream} upstream)`,
      timeoutMs: 20_000,
      run: async ({ signal }) => {
        const res = await client.responses.create({ model: route.model, input: question, instructions: 'Be brief.' }, { signal });
        assert.equal(res.object, 'response');
        assert.equal(res.status, 'completed');
        assert.equal(res.output_text, echo);
        assert.ok(res.usage.input_tokens > 0 && res.usage.output_tokens > 0, `usage ${JSON.stringify(res.usage)}`);
        assert.equal(res.usage.total_tokens, res.usage.input_tokens + res.usage.output_tokens);
      },
    });
    list.push({
      name: `openai sdk: responses.create stream, event by event (${route.upstream} upstream)`,
      timeoutMs: 20_000,
      run: async ({ signal }) => {
        const stream = await client.responses.create({ model: route.model, input: question, stream: true }, { signal });
        const events = [];
        for await (const ev of stream) events.push(ev);
        const terminal = checkEvents(events);
        assert.equal(terminal.type, 'response.completed', JSON.stringify(terminal));
        const deltas = events.filter((e) => e.type === 'response.output_text.delta');
        assert.ok(deltas.length > 1, `the text came in ${deltas.length} delta(s), not as a stream`);
        assert.equal(deltas.map((e) => e.delta).join(''), echo);
        assert.equal(outputText(terminal.response), echo);
      },
    });
    list.push({
      name: `openai sdk: responses.stream, function calls and their outputs (${route.upstream} upstream)`,
      timeoutMs: 30_000,
      run: async ({ signal }) => {
        const input = [{ role: 'user', content: question }];
        const first = await client.responses.stream({ model: route.model, input, tools: functionTools }, { signal }).finalResponse();
        const calls = first.output.filter((o) => o.type === 'function_call');
        assert.deepEqual(calls.map((c) => c.name), ['get_weather', 'get_time'], JSON.stringify(first.output));
        assert.deepEqual(JSON.parse(calls[0].arguments), weatherArgs);
        assert.deepEqual(JSON.parse(calls[1].arguments), timeArgs);
        input.push(...calls.map(({ type, call_id, name, arguments: args }) => ({ type, call_id, name, arguments: args })));
        input.push({ type: 'function_call_output', call_id: calls[0].call_id, output: weatherResult });
        input.push({ type: 'function_call_output', call_id: calls[1].call_id, output: timeResult });
        const second = await client.responses.stream({ model: route.model, input, tools: functionTools }, { signal }).finalResponse();
        assert.equal(second.status, 'completed');
        assert.equal(second.output_text, toolResultsAnswer(weatherResult, timeResult));
      },
    });
    list.push({
      name: `openai sdk: responses error in the Responses shape (${route.upstream} upstream)`,
      timeoutMs: 20_000,
      run: async ({ signal }) => {
        // An input item of a type the API does not have: refused, and the
        // client must see a 400 it can read.
        const err = await client.responses.create({
          model: route.model,
          input: [{ role: 'user', content: question }, { type: 'no_such_item', id: 'x' }],
        }, { signal }).then(() => null, (e) => e);
        assert.ok(err instanceof OpenAI.APIError, `want an API error, got ${err}`);
        assert.equal(err.status, 400, `status ${err.status}: ${err.message}`);
        assert.equal(typeof err.error?.message, 'string', JSON.stringify(err.error));
        assert.equal(err.error?.type, 'invalid_request_error', JSON.stringify(err.error));
      },
    });

    const model = createOpenAI({ apiKey: clientKey, baseURL: route.baseURL })(route.model);
    const label = `@ai-sdk/openai responses (${route.upstream} upstream)`;
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
        const res = streamText({ model, prompt: question, maxRetries: 0, abortSignal: signal, onError: ({ error }) => errors.push(error) });
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
    list.push({
      name: `ai sdk: generateText with tools, two steps, ${label}`,
      timeoutMs: 30_000,
      run: async ({ signal }) => {
        const seen = [];
        const res = await generateText({
          model, prompt: question, tools: recordingTools(seen), stopWhen: stepCountIs(3), maxRetries: 0, abortSignal: signal,
        });
        assert.deepEqual(seen, [['get_weather', weatherArgs], ['get_time', timeArgs]]);
        assert.equal(res.steps.length, 2);
        assert.equal(res.text, toolResultsAnswer(weatherResult, timeResult));
      },
    });
  }
  return list;
}
