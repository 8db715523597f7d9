// The official SDKs, openai and @anthropic-ai/sdk: model lists, token
// counts, and streamed tool loops.

import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import {
  clientKey, routes, question, echo, weatherArgs, timeArgs, weatherResult, timeResult,
  toolResultsAnswer, weatherSchema, timeSchema,
} from '../lib/targets.mjs';

const openaiTools = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: weatherSchema } },
  { type: 'function', function: { name: 'get_time', description: 'Time in a zone', parameters: timeSchema } },
];
const anthropicTools = [
  { name: 'get_weather', description: 'Weather in a city', input_schema: weatherSchema },
  { name: 'get_time', description: 'Time in a zone', input_schema: timeSchema },
];

export function checks({ gatewayURL }) {
  const r = routes(gatewayURL);
  const list = [];
  const openaiClient = (route) => new OpenAI({ apiKey: clientKey, baseURL: route.baseURL, maxRetries: 0 });
  const anthropicClient = (route) => new Anthropic({ apiKey: clientKey, baseURL: route.baseURL, maxRetries: 0 });

  list.push({
    name: 'openai sdk: models.list and models.retrieve',
    timeoutMs: 20_000,
    run: async ({ signal }) => {
      const client = openaiClient(r.openai[0]);
      const ids = [];
      for await (const m of client.models.list({ signal })) {
        assert.equal(m.object, 'model', `model entry ${JSON.stringify(m)}`);
        assert.equal(typeof m.owned_by, 'string');
        ids.push(m.id);
      }
      assert.ok(ids.length > 0, 'the list is empty');
      const one = await client.models.retrieve(ids[0], { signal });
      assert.equal(one.id, ids[0]);
      assert.equal(one.object, 'model');
    },
  });
  list.push({
    name: 'anthropic sdk: models.list',
    timeoutMs: 20_000,
    run: async ({ signal }) => {
      const client = anthropicClient(r.anthropic[0]);
      const page = await client.models.list({}, { signal });
      assert.ok(page.data.length > 0, 'the list is empty');
      for (const m of page.data) {
        assert.equal(m.type, 'model', `model entry ${JSON.stringify(m)}`);
        assert.equal(typeof m.display_name, 'string');
      }
    },
  });
  for (const route of r.anthropic) {
    list.push({
      name: `anthropic sdk: messages.countTokens (${route.upstream} upstream)`,
      timeoutMs: 20_000,
      run: async ({ signal }) => {
        const client = anthropicClient(route);
        const res = await client.messages.countTokens({
          model: route.model,
          system: 'You are terse.',
          tools: anthropicTools,
          messages: [{ role: 'user', content: question }],
        }, { signal });
        assert.ok(Number.isInteger(res.input_tokens) && res.input_tokens > 0, `input_tokens ${res.input_tokens}`);
      },
    });
  }
  for (const route of r.openai) {
    list.push({
      name: `openai sdk: streamed parallel tool calls and a tool-result turn (${route.upstream} upstream)`,
      timeoutMs: 30_000,
      run: async ({ signal }) => {
        const client = openaiClient(route);
        const messages = [{ role: 'user', content: question }];
        const stream = await client.chat.completions.create({
          model: route.model, messages, tools: openaiTools, stream: true,
          stream_options: { include_usage: true },
        }, { signal });
        const calls = [];
        let finish;
        let usage;
        for await (const chunk of stream) {
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices[0];
          if (!choice) continue;
          if (choice.finish_reason) finish = choice.finish_reason;
          for (const d of choice.delta.tool_calls ?? []) {
            calls[d.index] ??= { id: '', name: '', args: '' };
            if (d.id) calls[d.index].id = d.id;
            if (d.function?.name) calls[d.index].name += d.function.name;
            if (d.function?.arguments) calls[d.index].args += d.function.arguments;
          }
        }
        assert.equal(finish, 'tool_calls');
        assert.deepEqual(calls.map((c) => c.name), ['get_weather', 'get_time']);
        assert.deepEqual(JSON.parse(calls[0].args), weatherArgs);
        assert.deepEqual(JSON.parse(calls[1].args), timeArgs);
        assert.ok(usage && usage.prompt_tokens > 0 && usage.completion_tokens > 0, `usage ${JSON.stringify(usage)}`);

        messages.push({
          role: 'assistant', content: null,
          tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.args } })),
        });
        messages.push({ role: 'tool', tool_call_id: calls[0].id, content: weatherResult });
        messages.push({ role: 'tool', tool_call_id: calls[1].id, content: timeResult });
        const second = await client.chat.completions.create({
          model: route.model, messages, tools: openaiTools, stream: true,
        }, { signal });
        let text = '';
        for await (const chunk of second) text += chunk.choices[0]?.delta?.content ?? '';
        assert.equal(text, toolResultsAnswer(weatherResult, timeResult));
      },
    });
  }
  list.push({
    // Claude models from Opus 4.7 on accept only adaptive thinking, so the
    // gateway must not turn reasoning_effort into a thinking budget.
    name: 'openai sdk: reasoning_effort on an adaptive-only Claude model (anthropic upstream)',
    timeoutMs: 20_000,
    run: async ({ signal }) => {
      const client = openaiClient(r.openai[1]);
      const res = await client.chat.completions.create({
        model: 'claude-opus-4-7', reasoning_effort: 'high', max_completion_tokens: 2048,
        messages: [{ role: 'user', content: question }],
      }, { signal });
      assert.equal(res.choices[0].message.content, echo);
      assert.equal(res.choices[0].finish_reason, 'stop');
    },
  });
  for (const route of r.anthropic) {
    list.push({
      name: `anthropic sdk: streamed parallel tool use and a tool-result turn (${route.upstream} upstream)`,
      timeoutMs: 30_000,
      run: async ({ signal }) => {
        const client = anthropicClient(route);
        const messages = [{ role: 'user', content: question }];
        const first = await client.messages.stream({
          model: route.model, max_tokens: 1024, messages, tools: anthropicTools,
        }, { signal }).finalMessage();
        assert.equal(first.stop_reason, 'tool_use');
        const uses = first.content.filter((b) => b.type === 'tool_use');
        assert.deepEqual(uses.map((b) => b.name), ['get_weather', 'get_time']);
        assert.deepEqual(uses[0].input, weatherArgs);
        assert.deepEqual(uses[1].input, timeArgs);
        assert.ok(first.usage.input_tokens > 0 && first.usage.output_tokens > 0, `usage ${JSON.stringify(first.usage)}`);

        messages.push({ role: 'assistant', content: first.content });
        messages.push({
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: uses[0].id, content: weatherResult },
            { type: 'tool_result', tool_use_id: uses[1].id, content: timeResult },
          ],
        });
        const second = await client.messages.stream({
          model: route.model, max_tokens: 1024, messages, tools: anthropicTools,
        }, { signal }).finalMessage();
        assert.equal(second.stop_reason, 'end_turn');
        const text = second.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
        assert.equal(text, toolResultsAnswer(weatherResult, timeResult));
      },
    });
  }
  return list;
}
