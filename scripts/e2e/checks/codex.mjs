// The Codex CLI, the real one (`codex exec --json`), with a fresh
// CODEX_HOME whose config.toml names the gateway as a custom model
// provider speaking the Responses API, against both upstream formats. The
// mock upstream's script (see script()) makes the "model" answer a marked
// prompt with written text, or call Codex's own shell tool, exec_command;
// Codex runs the command, sends its output back, and the mock's answer
// quotes it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { clientKey, routes } from '../lib/targets.mjs';

const require = createRequire(import.meta.url);

// Markers in the prompts, matched by the mock's script, and what the shell
// prints: it computes the number, so the command must really have run.
const plainPrompt = 'E2E-CODEX-PLAIN';
const toolsPrompt = 'E2E-CODEX-TOOLS';
const plainAnswer = 'The gateway carried this answer to Codex.';
const shellCommand = 'echo codex-says-$((6*7))';
const shellOutput = 'codex-says-42';

// codexLauncher is the package's own entry point, which starts the native
// binary from the platform package npm installed as an optional dependency
// (no install script is involved, so `npm ci --ignore-scripts` suffices).
export function codexLauncher() {
  return path.join(path.dirname(require.resolve('@openai/codex/package.json')), 'bin', 'codex.js');
}

// script returns the mock upstream's rules for these checks. exec_command
// is the shell tool Codex declares ({"cmd": "..."}).
export function script() {
  return [
    { match: plainPrompt, text: plainAnswer },
    { match: toolsPrompt, tool_calls: [{ name: 'exec_command', arguments: { cmd: shellCommand } }] },
  ];
}

// codexHome writes a fresh CODEX_HOME for one run: the gateway as the model
// provider, no retries (a failure must show at once), no update checks, no
// analytics, and no plugin catalogue sync (it would reach GitHub and
// chatgpt.com at start-up).
async function codexHome(work, baseURL, model) {
  const home = await mkdtemp(path.join(work, 'codex-home-'));
  const codexDir = path.join(home, '.codex');
  await mkdir(codexDir, { recursive: true });
  await writeFile(path.join(codexDir, 'config.toml'), [
    `model = "${model}"`,
    'model_provider = "gateway"',
    'approval_policy = "never"',
    'sandbox_mode = "danger-full-access"',
    'check_for_update_on_startup = false',
    '',
    '[features]',
    'plugins = false',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[model_providers.gateway]',
    'name = "AI gateway"',
    `base_url = "${baseURL}"`,
    'wire_api = "responses"',
    'env_key = "GATEWAY_API_KEY"',
    'request_max_retries = 0',
    'stream_max_retries = 0',
    'stream_idle_timeout_ms = 30000',
    '',
  ].join('\n'));
  return { home, codexDir };
}

// runCodex runs `codex exec` to completion, or kills its whole process
// group when the check's signal fires.
function runCodex(args, { cwd, env, signal }) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [codexLauncher(), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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
      kill();
      resolve({ code, signal: sig, stdout, stderr });
    });
  });
}

// jsonEvents parses `--json` output, one JSON object a line.
function jsonEvents(res) {
  return res.stdout.split('\n').filter((l) => l.trim()).map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      throw new Error(`codex --json line is not JSON: ${l.slice(0, 300)}\nstderr: ${res.stderr.slice(-2000)}`);
    }
  });
}

// turnOf fails with what Codex printed unless it exited 0 with one
// completed turn and no failure, and returns the events.
function turnOf(res) {
  const detail = `exit ${res.code ?? res.signal}\nstdout: ${res.stdout.slice(-3000)}\nstderr: ${res.stderr.slice(-2000)}`;
  const events = jsonEvents(res);
  const failures = events.filter((e) => e.type === 'turn.failed' || e.type === 'error');
  assert.deepEqual(failures, [], `codex reported a failure:\n${detail}`);
  assert.equal(res.code, 0, `codex did not exit 0:\n${detail}`);
  assert.equal(events.filter((e) => e.type === 'turn.completed').length, 1, `not one turn.completed:\n${detail}`);
  return events;
}

function completed(events, type) {
  return events.filter((e) => e.type === 'item.completed' && e.item.type === type).map((e) => e.item);
}

export function checks({ gatewayURL, work, trap }) {
  const list = [];
  for (const route of routes(gatewayURL).responses) {
    const run = async (prompt, signal) => {
      const project = await mkdtemp(path.join(work, 'codex-project-'));
      const { home, codexDir } = await codexHome(work, route.baseURL, route.model);
      const env = {
        PATH: process.env.PATH,
        HOME: home,
        CODEX_HOME: codexDir,
        TMPDIR: home,
        SHELL: '/bin/bash',
        TERM: 'dumb',
        LANG: 'C.UTF-8',
        GATEWAY_API_KEY: clientKey,
        RUST_LOG: 'error',
        HTTPS_PROXY: trap.url,
        HTTP_PROXY: trap.url,
        NO_PROXY: '127.0.0.1,localhost',
      };
      return runCodex(['exec', '--json', '--skip-git-repo-check', '--sandbox', 'danger-full-access', prompt], { cwd: project, env, signal });
    };
    list.push({
      name: `codex: exec --json, plain turn (${route.upstream} upstream)`,
      timeoutMs: 60_000,
      run: async ({ signal }) => {
        const events = turnOf(await run(`Answer with the agreed sentence. ${plainPrompt}`, signal));
        assert.deepEqual(completed(events, 'agent_message').map((m) => m.text), [plainAnswer]);
        const usage = events.find((e) => e.type === 'turn.completed').usage;
        assert.ok(usage.input_tokens > 0 && usage.output_tokens > 0, `usage ${JSON.stringify(usage)}`);
      },
    });
    list.push({
      name: `codex: exec --json, exec_command tool round trip (${route.upstream} upstream)`,
      timeoutMs: 90_000,
      run: async ({ signal }) => {
        const events = turnOf(await run(`${toolsPrompt}: run the marker command, then quote its output.`, signal));
        const commands = completed(events, 'command_execution');
        assert.equal(commands.length, 1, `command executions: ${JSON.stringify(commands)}`);
        assert.ok(commands[0].command.includes(shellCommand), `command ${commands[0].command}`);
        assert.equal(commands[0].exit_code, 0, JSON.stringify(commands[0]));
        assert.ok(commands[0].aggregated_output.includes(shellOutput), `output ${JSON.stringify(commands[0].aggregated_output)}`);
        const messages = completed(events, 'agent_message').map((m) => m.text);
        assert.equal(messages.length, 1, `agent messages: ${JSON.stringify(messages)}`);
        assert.match(messages[0], /^Tool results: /);
        assert.ok(messages[0].includes(shellOutput), `the answer does not quote the shell's output: ${messages[0]}`);
      },
    });
  }
  list.push({
    name: 'codex: no connection attempted beyond loopback',
    timeoutMs: 1_000,
    run: async () => {
      assert.deepEqual([...new Set(trap.attempts)], [], 'hosts Codex tried to reach through the proxy');
    },
  });
  return list;
}
