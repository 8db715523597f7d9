#!/usr/bin/env node
// End-to-end suite: real clients (Claude Code, the Codex CLI, the Vercel AI
// SDK, LangChain JS, the official OpenAI and Anthropic SDKs) against the gateway built from
// this checkout, in front of the mock upstream, everything on loopback.
// Every client format is checked against every upstream format.
//
//   node scripts/e2e/run.mjs                 run every check
//   E2E_ONLY='claude code' node run.mjs      only the checks whose name matches
//   E2E_PORT_BASE=18300                      gateway on BASE, mock on BASE+1,
//                                            NATS monitoring on BASE+2, the
//                                            clients' refusing proxy on BASE+3
//   E2E_KEEP=1                               keep the work directory (logs)
//
// It prints one line per check and closes with "N passed, M failed"; the
// exit status is 1 when a check failed.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBinaries, startStack, startEgressTrap, runChecks, logSize, problems } from './lib/harness.mjs';
import * as sdks from './checks/sdks.mjs';
import * as vercel from './checks/vercel-ai.mjs';
import * as langchain from './checks/langchain.mjs';
import * as claudeCode from './checks/claude-code.mjs';
import * as responses from './checks/responses.mjs';
import * as codex from './checks/codex.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

async function main() {
  const portBase = Number(process.env.E2E_PORT_BASE || 18300);
  const ports = { gateway: portBase, mock: portBase + 1, monitor: portBase + 2, trap: portBase + 3 };
  const only = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY) : null;
  const work = await mkdtemp(path.join(os.tmpdir(), 'gateway-e2e-'));
  let stack;
  let trap;
  try {
    const started = Date.now();
    const bins = await buildBinaries(root, path.join(work, 'bin'));
    const { project, notes } = await claudeCode.prepare(work);
    const scriptFile = path.join(work, 'mock-script.json');
    await writeFile(scriptFile, JSON.stringify({ rules: [...claudeCode.script(notes), ...codex.script()] }, null, 2));
    stack = await startStack({ root, bins, work, ports, scriptFile });
    trap = await startEgressTrap(ports.trap);
    console.log(`gateway ${stack.gatewayURL}, mock upstream ${stack.mockURL}, work directory ${work}`);

    const ctx = { gatewayURL: stack.gatewayURL, work, project, notes, trap };
    const checks = [
      ...sdks.checks(ctx),
      ...vercel.checks(ctx),
      ...langchain.checks(ctx),
      ...claudeCode.checks(ctx),
      ...responses.checks(ctx),
      ...codex.checks(ctx),
      {
        // Nothing a client sent may have taken the process down.
        name: 'gateway: still up and healthy after every client',
        timeoutMs: 10_000,
        run: async ({ signal }) => {
          if (!stack.gatewayAlive()) throw new Error('the gateway process exited during the suite');
          const res = await fetch(`${stack.gatewayURL}/health`, { signal });
          if (res.status !== 200) throw new Error(`GET /health: ${res.status} ${await res.text()}`);
        },
      },
    ];
    const { passed, failed } = await runChecks(checks, {
      only,
      // A failed check shows the failed requests the gateway logged while
      // it ran: their status and error name the request that went wrong.
      onFailure: {
        before: () => logSize(stack.logs.gateway),
        explain: async (offset) => {
          const lines = await problems(stack.logs.gateway, offset);
          const alive = stack.gatewayAlive() ? '' : 'the gateway process is gone!\n';
          return `${alive}gateway log, failed requests during the check:\n${lines.join('\n') || '(none)'}`;
        },
      },
    });
    console.log(`suite took ${((Date.now() - started) / 1000).toFixed(0)}s`);
    console.log(`${passed} passed, ${failed} failed`);
    return failed === 0 && passed > 0 ? 0 : 1;
  } finally {
    if (trap) await trap.close();
    if (stack) await stack.stop();
    if (process.env.E2E_KEEP) {
      console.log(`kept ${work}`);
    } else {
      await rm(work, { recursive: true, force: true });
    }
  }
}

main().then((code) => process.exit(code), (err) => {
  console.error(`e2e: ${err.stack ?? err}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
