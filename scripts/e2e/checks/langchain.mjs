// LangChain JS: ChatOpenAI and ChatAnthropic, each against both upstream
// formats: invoke, stream, and bindTools with a tool-result turn.

import assert from 'node:assert/strict';
import { ChatOpenAI } from '@langchain/openai';
import { ChatAnthropic } from '@langchain/anthropic';
import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { z } from 'zod';
import {
  clientKey, routes, question, echo, weatherArgs, timeArgs, weatherResult, timeResult, toolResultsAnswer,
} from '../lib/targets.mjs';

const tools = [
  tool(async () => weatherResult, {
    name: 'get_weather', description: 'Weather in a city',
    schema: z.object({ city: z.string().describe('City name') }),
  }),
  tool(async () => timeResult, {
    name: 'get_time', description: 'Time in a zone',
    schema: z.object({ tz: z.string().describe('IANA time zone') }),
  }),
];

// text joins a message's content, a string or content blocks.
function text(content) {
  if (typeof content === 'string') return content;
  return content.filter((b) => b.type === 'text').map((b) => b.text).join('');
}

export function checks({ gatewayURL }) {
  const r = routes(gatewayURL);
  const models = [];
  for (const route of r.openai) {
    models.push({
      label: `ChatOpenAI (${route.upstream} upstream)`,
      make: () => new ChatOpenAI({ model: route.model, apiKey: clientKey, maxRetries: 0, configuration: { baseURL: route.baseURL } }),
    });
  }
  for (const route of r.anthropic) {
    models.push({
      label: `ChatAnthropic (${route.upstream} upstream)`,
      make: () => new ChatAnthropic({ model: route.model, apiKey: clientKey, maxRetries: 0, anthropicApiUrl: route.baseURL }),
    });
  }

  const list = [];
  for (const { label, make } of models) {
    list.push({
      name: `langchain: invoke, ${label}`,
      timeoutMs: 20_000,
      run: async ({ signal }) => {
        const msg = await make().invoke(question, { signal });
        assert.equal(text(msg.content), echo);
        assert.ok(msg.usage_metadata?.input_tokens > 0, `usage ${JSON.stringify(msg.usage_metadata)}`);
      },
    });
    list.push({
      name: `langchain: stream, ${label}`,
      timeoutMs: 20_000,
      run: async ({ signal }) => {
        let out = '';
        let chunks = 0;
        for await (const chunk of await make().stream(question, { signal })) {
          out += text(chunk.content);
          chunks++;
        }
        assert.equal(out, echo);
        assert.ok(chunks > 1, `the answer came in ${chunks} chunk(s), not as a stream`);
      },
    });
    list.push({
      name: `langchain: bindTools and a tool-result turn, ${label}`,
      timeoutMs: 30_000,
      run: async ({ signal }) => {
        const model = make().bindTools(tools);
        const history = [new HumanMessage(question)];
        const ai = await model.invoke(history, { signal });
        assert.deepEqual(ai.tool_calls.map((c) => [c.name, c.args]), [['get_weather', weatherArgs], ['get_time', timeArgs]]);
        history.push(ai);
        for (const c of ai.tool_calls) {
          history.push(new ToolMessage({ tool_call_id: c.id, content: c.name === 'get_weather' ? weatherResult : timeResult }));
        }
        const final = await model.invoke(history, { signal });
        assert.equal(text(final.content), toolResultsAnswer(weatherResult, timeResult));
      },
    });
  }
  return list;
}
