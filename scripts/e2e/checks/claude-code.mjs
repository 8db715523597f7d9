// Claude Code, the real CLI, headless (`claude -p`), with its default tools,
// a fresh HOME and every kind of background traffic turned off, against
// both upstream formats. The mock upstream's script (see script()) makes the
// "model" answer a marked prompt with written text, or ask for Claude
// Code's own Bash and Read tools in parallel; Claude Code runs them, sends
// the results back, and the mock's answer quotes both.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile, mkdtemp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { clientKey, routes } from '../lib/targets.mjs';

const require = createRequire(import.meta.url);

// Markers in the prompts, matched by the mock's script, and what the tools
// produce: the shell computes its marker, so it must really have run.
const plainJSON = 'E2E-PLAIN-JSON';
const plainStream = 'E2E-PLAIN-STREAM';
const toolsPrompt = 'E2E-TOOLS';
const plainAnswer = 'The gateway carried this answer.';
const bashCommand = 'echo bash-says-$((6*7))';
const bashOutput = 'bash-says-42';
const fileText = 'file-says-7f3a9c';

// claudeBinary finds the native executable of the installed package: the
// platform package npm chose from its optional dependencies, or the copy
// its install script put in place.
export function claudeBinary() {
  const platform = `${process.platform}-${process.arch}`;
  for (const pkg of [`@anthropic-ai/claude-code-${platform}`, `@anthropic-ai/claude-code-${platform}-musl`]) {
    try {
      const dir = path.dirname(require.resolve(`${pkg}/package.json`));
      const bin = path.join(dir, 'claude');
      if (existsSync(bin)) return bin;
    } catch {
      // not installed for this platform; try the next
    }
  }
  return path.join(path.dirname(require.resolve('@anthropic-ai/claude-code/package.json')), 'bin', 'claude.exe');
}

// script returns the mock upstream's rules for these checks; notesFile is
// the file the Read tool is asked to read.
export function script(notesFile) {
  return [
    { match: plainJSON, text: plainAnswer },
    { match: plainStream, text: plainAnswer },
    {
      match: toolsPrompt,
      tool_calls: [
        { name: 'Bash', arguments: { command: bashCommand, description: 'Print a computed marker' } },
        { name: 'Read', arguments: { file_path: notesFile } },
      ],
    },
  ];
}

// prepare writes the project directory Claude Code works in and returns
// the path of the notes file.
export async function prepare(work) {
  const project = path.join(work, 'claude-project');
  await mkdir(project, { recursive: true });
  const notes = path.join(project, 'notes.txt');
  await writeFile(notes, `${fileText}\n`);
  return { project, notes };
}

// claudeEnv is the environment of one run: nothing from the caller's own
// Claude Code set-up, a fresh HOME, no telemetry, updates, feature-flag or
// error-report traffic, and a proxy that refuses at once whatever would
// still try to leave loopback, so nothing can hang waiting on a network
// that is not there.
async function claudeEnv(work, baseURL, model, proxyURL) {
  const home = await mkdtemp(path.join(work, 'claude-home-'));
  return {
    PATH: process.env.PATH,
    HOME: home,
    TMPDIR: home,
    SHELL: '/bin/bash',
    TERM: 'dumb',
    LANG: 'C.UTF-8',
    CLAUDE_CONFIG_DIR: path.join(home, '.claude'),
    ANTHROPIC_BASE_URL: baseURL,
    ANTHROPIC_API_KEY: clientKey,
    ANTHROPIC_MODEL: model,
    ANTHROPIC_DEFAULT_SONNET_MODEL: model,
    ANTHROPIC_DEFAULT_OPUS_MODEL: model,
    ANTHROPIC_DEFAULT_HAIKU_MODEL: model,
    CLAUDE_CODE_SUBAGENT_MODEL: model,
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_UPDATES: '1',
    DISABLE_GROWTHBOOK: '1',
    DISABLE_BUG_COMMAND: '1',
    DISABLE_COST_WARNINGS: '1',
    DISABLE_INSTALLATION_CHECKS: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    CLAUDE_CODE_DISABLE_FEATURE_FLAGS: '1',
    CLAUDE_CODE_MAX_RETRIES: '0',
    API_TIMEOUT_MS: '30000',
    HTTPS_PROXY: proxyURL,
    HTTP_PROXY: proxyURL,
    NO_PROXY: '127.0.0.1,localhost',
  };
}

// runClaude runs the CLI to completion, or kills its whole process group
// when the check's signal fires.
function runClaude(args, { cwd, env, signal }) {
  return new Promise((resolve, reject) => {
    const child = spawn(claudeBinary(), args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const kill = () => {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    };
    signal.addEventListener('abort', kill, { once: true });
    child.on('error', reject);
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', kill);
      kill(); // any tool process it left behind
      resolve({ code, signal: sig, stdout, stderr });
    });
  });
}

// expectSuccess fails with what the CLI printed when it did not exit 0.
function expectSuccess(res) {
  if (res.code !== 0) {
    throw new Error(`claude exited with ${res.code ?? res.signal}\nstdout: ${res.stdout.slice(-2000)}\nstderr: ${res.stderr.slice(-2000)}`);
  }
}

// streamEvents parses stream-json output, one JSON object a line.
function streamEvents(stdout) {
  return stdout.split('\n').filter((l) => l.trim()).map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      throw new Error(`stream-json line is not JSON: ${l.slice(0, 300)}`);
    }
  });
}

// finalResult returns the stream's closing result event.
function finalResult(events) {
  const result = events.filter((e) => e.type === 'result').at(-1);
  assert.ok(result, `no result event among: ${events.map((e) => e.type).join(', ')}`);
  return result;
}

export function checks({ gatewayURL, work, project, notes, trap }) {
  const list = [];
  for (const route of routes(gatewayURL).anthropic) {
    const run = async (args, signal) => runClaude(args, {
      cwd: project, env: await claudeEnv(work, route.baseURL, route.model, trap.url), signal,
    });
    list.push({
      name: `claude code: -p --output-format json, plain turn (${route.upstream} upstream)`,
      timeoutMs: 90_000,
      run: async ({ signal }) => {
        const res = await run(['-p', `Answer with the agreed sentence. ${plainJSON}`, '--output-format', 'json'], signal);
        expectSuccess(res);
        const out = JSON.parse(res.stdout);
        assert.equal(out.type, 'result');
        assert.equal(out.is_error, false, `is_error: ${res.stdout}`);
        assert.equal(out.result, plainAnswer);
      },
    });
    list.push({
      name: `claude code: -p --output-format stream-json, plain turn (${route.upstream} upstream)`,
      timeoutMs: 90_000,
      run: async ({ signal }) => {
        const res = await run(['-p', `Answer with the agreed sentence. ${plainStream}`, '--output-format', 'stream-json', '--verbose'], signal);
        expectSuccess(res);
        const events = streamEvents(res.stdout);
        const texts = events.filter((e) => e.type === 'assistant')
          .flatMap((e) => e.message.content).filter((b) => b.type === 'text').map((b) => b.text);
        assert.deepEqual(texts, [plainAnswer]);
        const result = finalResult(events);
        assert.equal(result.is_error, false, JSON.stringify(result));
        assert.equal(result.result, plainAnswer);
      },
    });
    list.push({
      name: `claude code: parallel Bash and Read tool round trip, json (${route.upstream} upstream)`,
      timeoutMs: 120_000,
      run: async ({ signal }) => {
        const res = await run([
          '-p', `${toolsPrompt}: run the marker command and read notes.txt, then quote both.`,
          '--output-format', 'json', '--allowedTools', 'Bash,Read', '--max-turns', '4',
        ], signal);
        expectSuccess(res);
        const out = JSON.parse(res.stdout);
        assert.equal(out.is_error, false, `is_error: ${res.stdout}`);
        assert.match(out.result, /^Tool results: /);
        assert.ok(out.result.includes(bashOutput), `the answer does not quote the shell's output: ${out.result}`);
        assert.ok(out.result.includes(fileText), `the answer does not quote the file: ${out.result}`);
      },
    });
    list.push({
      name: `claude code: parallel Bash and Read tool round trip, stream-json (${route.upstream} upstream)`,
      timeoutMs: 120_000,
      run: async ({ signal }) => {
        const res = await run([
          '-p', `${toolsPrompt}: run the marker command and read notes.txt, then quote both.`,
          '--output-format', 'stream-json', '--verbose', '--allowedTools', 'Bash,Read', '--max-turns', '4',
        ], signal);
        expectSuccess(res);
        const events = streamEvents(res.stdout);
        // Both calls come in one assistant message: the same message id.
        const uses = events.filter((e) => e.type === 'assistant')
          .flatMap((e) => e.message.content.map((b) => ({ ...b, message: e.message.id })))
          .filter((b) => b.type === 'tool_use');
        assert.deepEqual(uses.map((u) => u.name), ['Bash', 'Read'], 'tool calls');
        assert.equal(uses[0].message, uses[1].message, 'the two calls are not in one message');
        assert.equal(uses[0].input.command, bashCommand);
        assert.equal(uses[1].input.file_path, notes);
        const results = events.filter((e) => e.type === 'user')
          .flatMap((e) => (Array.isArray(e.message.content) ? e.message.content : []))
          .filter((b) => b.type === 'tool_result');
        // Claude Code sends the results in the order the tools finished.
        assert.deepEqual(results.map((r) => r.tool_use_id).sort(), uses.map((u) => u.id).sort(), 'tool results');
        for (const r of results) assert.notEqual(r.is_error, true, `tool failed: ${JSON.stringify(r)}`);
        const result = finalResult(events);
        assert.equal(result.is_error, false, JSON.stringify(result));
        assert.match(result.result, /^Tool results: /);
        assert.ok(result.result.includes(bashOutput), `the answer does not quote the shell's output: ${result.result}`);
        assert.ok(result.result.includes(fileText), `the answer does not quote the file: ${result.result}`);
      },
    });
  }
  list.push({
    name: 'claude code: no connection attempted beyond loopback',
    timeoutMs: 1_000,
    run: async () => {
      assert.deepEqual([...new Set(trap.attempts)], [], 'hosts Claude Code tried to reach through the proxy');
    },
  });
  return list;
}
