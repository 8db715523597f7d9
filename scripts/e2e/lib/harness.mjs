// The processes under test: the mock upstream and the gateway, built from
// this checkout and started on loopback, and the small runner that prints
// each check and the closing "N passed, M failed" line.

import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

// The provider key the gateway is configured with for both upstreams. The
// mock upstream accepts only this one, so a check passes only if the
// gateway replaced the client's key with its own.
export const upstreamKey = 'sk-e2e-upstream';

// buildBinaries compiles the gateway and the mock upstream into dir.
export async function buildBinaries(root, dir) {
  await mkdir(dir, { recursive: true });
  const out = { gateway: path.join(dir, 'gateway'), mock: path.join(dir, 'mockupstream') };
  for (const [name, pkg] of [['gateway', './cmd/gateway'], ['mock', './cmd/mockupstream']]) {
    await run('go', ['build', '-o', out[name], pkg], { cwd: root, maxBuffer: 16 << 20 });
  }
  return out;
}

// startProcess starts a long-running program with its output in logFile.
function startProcess(bin, args, { env, cwd, logFile }) {
  const log = createWriteStream(logFile);
  const child = spawn(bin, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  child.exited = once(child, 'exit');
  return child;
}

// waitHealthy polls url until it answers 200 or the process dies or
// timeoutMs passes.
async function waitHealthy(url, child, logFile, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`${url}: process exited with ${child.exitCode}; log:\n${await tail(logFile)}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not healthy after ${timeoutMs} ms (${last}); log:\n${await tail(logFile)}`);
}

// startEgressTrap listens on port as an HTTP proxy that refuses every
// request and tunnel at once and records where it was meant to go. Clients
// under test get it as their proxy (loopback excepted), so whatever would
// leave the machine fails fast instead of hanging, and shows up here.
export async function startEgressTrap(port) {
  const attempts = [];
  const server = http.createServer((req, res) => {
    attempts.push(req.headers.host ?? req.url);
    res.writeHead(403, { connection: 'close' }).end('no network here\n');
  });
  server.on('connect', (req, socket) => {
    attempts.push(req.url);
    socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${port}`,
    attempts,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

// logSize returns a file's length, where a check's log lines start.
export async function logSize(file) {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

// problems returns the lines a log gained after offset that record a
// failed request or a warning, at most max of them: what the gateway said
// about the requests of one check.
export async function problems(file, offset, max = 6) {
  let text;
  try {
    text = (await readFile(file)).subarray(offset).toString('utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => /"status":[45]\d\d|"level":"(WARN|ERROR)"|panic/.test(l)).slice(-max);
}

// tail returns the last lines of a log file.
export async function tail(file, lines = 30) {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// startStack starts the mock upstream and the gateway in front of it and
// returns their addresses and a stop function.
export async function startStack({ root, bins, work, ports, scriptFile }) {
  const mockLog = path.join(work, 'mockupstream.log');
  const gatewayLog = path.join(work, 'gateway.log');
  const mockURL = `http://127.0.0.1:${ports.mock}`;
  const gatewayURL = `http://127.0.0.1:${ports.gateway}`;
  const base = { PATH: process.env.PATH, HOME: process.env.HOME ?? work, TMPDIR: process.env.TMPDIR ?? '/tmp' };

  let mock;
  let gateway;
  const stop = async () => {
    for (const child of [gateway, mock]) {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await child.exited;
        clearTimeout(timer);
      }
    }
  };
  try {
    mock = startProcess(bins.mock, [
      '-addr', `127.0.0.1:${ports.mock}`, '-api-key', upstreamKey, '-script', scriptFile,
    ], { env: base, cwd: work, logFile: mockLog });
    await waitHealthy(`${mockURL}/health`, mock, mockLog, 30_000);
    const env = {
      ...base,
      GATEWAY_SERVER_HOST: '127.0.0.1',
      GATEWAY_SERVER_PORT: String(ports.gateway),
      GATEWAY_BUS_MONITOR: `127.0.0.1:${ports.monitor}`,
      GATEWAY_BUS_STORE_DIR: path.join(work, 'nats'),
      GATEWAY_LOGGING_LEVEL: 'info',
      GATEWAY_UPSTREAMS_OPENAI_URL: mockURL,
      GATEWAY_UPSTREAMS_OPENAI_API_KEY: upstreamKey,
      GATEWAY_UPSTREAMS_ANTHROPIC_URL: mockURL,
      GATEWAY_UPSTREAMS_ANTHROPIC_API_KEY: upstreamKey,
    };
    gateway = startProcess(bins.gateway, ['--config', path.join(root, 'config', 'default.toml')], {
      env, cwd: work, logFile: gatewayLog,
    });
    await waitHealthy(`${gatewayURL}/health`, gateway, gatewayLog, 60_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    gatewayURL,
    mockURL,
    logs: { gateway: gatewayLog, mock: mockLog },
    gatewayAlive: () => gateway.exitCode === null && gateway.signalCode === null,
    stop,
  };
}

// runChecks runs each check in order, bounded by its timeout, printing one
// line per check, and returns the counts.
export async function runChecks(checks, { only, onFailure }) {
  let passed = 0;
  let failed = 0;
  for (const c of checks) {
    if (only && !only.test(c.name)) continue;
    const started = Date.now();
    const state = onFailure?.before ? await onFailure.before() : undefined;
    const ac = new AbortController();
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        ac.abort(new Error(`timed out after ${c.timeoutMs} ms`));
        reject(new Error(`timed out after ${c.timeoutMs} ms`));
      }, c.timeoutMs);
    });
    try {
      await Promise.race([c.run({ signal: ac.signal }), timeout]);
      passed++;
      console.log(`ok    ${c.name} (${secs(started)})`);
    } catch (err) {
      failed++;
      console.log(`FAIL  ${c.name} (${secs(started)})`);
      console.log(indent(describe(err)));
      if (onFailure) console.log(indent(await onFailure.explain(state)));
    } finally {
      clearTimeout(timer);
      ac.abort(new Error('check finished'));
    }
  }
  return { passed, failed };
}

function secs(started) {
  return `${((Date.now() - started) / 1000).toFixed(1)}s`;
}

function indent(text) {
  return String(text).split('\n').map((l) => `      ${l}`).join('\n');
}

// describe turns an error from any client library into readable text: the
// SDKs' API errors carry the status and the body the gateway sent.
function describe(err) {
  const parts = [err?.message ?? String(err)];
  const status = err?.status ?? err?.statusCode ?? err?.response?.status;
  if (status && !parts[0].includes(String(status))) parts.push(`status ${status}`);
  const body = err?.responseBody ?? err?.error ?? err?.lastError?.responseBody;
  if (body) parts.push(`body: ${typeof body === 'string' ? body : JSON.stringify(body)}`);
  if (err?.cause && err.cause !== err) parts.push(`cause: ${err.cause.message ?? err.cause}`);
  return parts.join('\n');
}
