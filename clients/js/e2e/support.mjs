// Shared pieces of the browser tests: the gateway under test and the system Chromium.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const gatewayProject = fileURLToPath(new URL('../../../src/Gateway/', import.meta.url));
export const gatewayDll = fileURLToPath(new URL('../../../src/Gateway/bin/Release/net10.0/SseCluster.Gateway.dll', import.meta.url));
export const artifactsDir = fileURLToPath(new URL('./artifacts/', import.meta.url));
export const answerBackendProgram = fileURLToPath(new URL('../../../samples/AnswerBackend/Program.cs', import.meta.url));
export const answerBackendDll = fileURLToPath(
  new URL('../../../samples/AnswerBackend/bin/Release/net10.0/SseCluster.Samples.AnswerBackend.dll', import.meta.url),
);

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The gateway to test: GATEWAY_URL when e2e.sh started one (with ANSWER_BACKEND_URL when it
 * also started samples/AnswerBackend for it), else one started here (from the Release build)
 * and ended by PID when `stop()` is called. With `answers: true` the gateway started here
 * hands questions to samples/AnswerBackend (its Release build), started here as well.
 */
export async function startGateway({ answers = false } = {}) {
  if (process.env.GATEWAY_URL) {
    return { url: process.env.GATEWAY_URL.replace(/\/+$/, ''), answers: !!process.env.ANSWER_BACKEND_URL, stop: async () => {} };
  }
  if (!existsSync(gatewayDll)) throw new Error(`gateway not built: ${gatewayDll} (run dotnet build src/Gateway -c Release)`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // A silo port of its own: a gateway refuses to start on one another process (an earlier test's gateway) still holds.
  const siloPort = await freePort();
  const env = {
    ...process.env, ASPNETCORE_ENVIRONMENT: 'Development', DOTNET_NOLOGO: '1', SseCluster__Auth__SigningKey: `e2e-${randomBytes(32).toString('hex')}`,
    SseCluster__Orleans__SiloPort: String(siloPort), SseCluster__Orleans__GatewayPort: '0',
  };
  const children = [];
  if (answers) {
    if (!existsSync(answerBackendDll)) throw new Error(`answer backend not built: ${answerBackendDll} (run dotnet build samples/AnswerBackend -c Release)`);
    let backendPort = await freePort();
    while (backendPort === port) backendPort = await freePort();
    const secret = `e2e-${randomBytes(16).toString('hex')}`;
    const backendUrl = `http://127.0.0.1:${backendPort}`;
    children.push(
      spawnTracked('answer backend', 'dotnet', [answerBackendDll, '--urls', backendUrl, '--AnswerBackend:GatewayUrl', url, '--AnswerBackend:Secret', secret], {
        env: { ...process.env, DOTNET_NOLOGO: '1' },
      }),
    );
    env.SseCluster__Answers__BackendUrl = `${backendUrl}/answer`;
    env.SseCluster__Answers__BackendSecret = secret;
  }
  // content root: appsettings.Development.json and wwwroot.
  // A key of its own: Development would otherwise sign with (and create) the developer's per-machine key.
  const gateway = spawnTracked('gateway', 'dotnet', [gatewayDll, '--urls', url], { cwd: gatewayProject, env });
  children.push(gateway);
  const output = () => children.map((c) => `--- ${c.name}\n${c.output()}`).join('\n');
  // The gateway first (it may be writing to the backend), then the backend.
  const stop = async () => {
    for (const child of [...children].reverse()) await child.stop();
  };
  const child = gateway.child;

  const deadline = Date.now() + 30000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`gateway exited with ${child.exitCode}:\n${output()}`);
    }
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`gateway did not answer /healthz within 30 s:\n${output()}`);
    }
    await sleep(200);
  }
  return { url, answers, stop };
}

/** Spawns a process whose `stop()` ends it by PID (SIGTERM, then SIGKILL after 5 s); it also ends when this process exits. */
function spawnTracked(name, command, args, options) {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGTERM');
  };
  process.once('exit', kill);
  const stop = async () => {
    kill();
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    }, 5000);
    await exited;
    clearTimeout(timer);
    process.removeListener('exit', kill);
  };
  return { name, child, output: () => output, stop };
}

/**
 * The canned answer samples/AnswerBackend streams, read from its source (the `Answer`
 * constant's string literals), so a test compares against exactly what the backend sends.
 */
export function cannedAnswer() {
  const source = readFileSync(answerBackendProgram, 'utf8');
  const declaration = /const string Answer\s*=([\s\S]*?);/.exec(source);
  if (!declaration) throw new Error(`no 'const string Answer' in ${answerBackendProgram}`);
  const literals = [...declaration[1].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`));
  if (literals.length === 0) throw new Error(`the Answer constant in ${answerBackendProgram} has no string literal`);
  return literals.join('');
}

/** A unique user id per test run. */
export function uniqueUser(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/** Collects console errors and page errors of a page. */
export function watchConsole(page) {
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  return errors;
}

/** The full path of a program on PATH (or in /usr/sbin), or null. */
export function findProgram(name) {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean).concat(['/usr/sbin', '/usr/bin']);
  for (const dir of dirs) {
    const candidate = `${dir}/${name}`;
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

export const localClusterScript = fileURLToPath(new URL('../../../deploy/local-cluster.sh', import.meta.url));

/**
 * Why deploy/local-cluster.sh cannot run here (no haproxy, redis-server or gateway build),
 * or null when it can.
 */
export function localClusterMissing() {
  if (!existsSync(localClusterScript)) return `no ${localClusterScript}`;
  for (const program of ['haproxy', 'redis-server']) {
    if (!findProgram(program)) return `${program} is not installed (sudo apt-get install -y ${program}; ./test.sh installs it)`;
  }
  if (!existsSync(gatewayDll)) return `gateway not built: ${gatewayDll} (run dotnet build src/Gateway -c Release)`;
  return null;
}

/**
 * Runs deploy/local-cluster.sh with free ports and `gateways` gateways: Redis, the gateways
 * (Development: dashboard and dev tokens) and haproxy in front. Resolves once it prints
 * "ready" with { url, gateways: [{ id, url, pid }], redis: { port, pid }, haproxy: { pid },
 * output(), stop() }; stop() sends SIGINT (Ctrl-C) and waits until the script has ended
 * everything it started.
 */
export async function startLocalCluster({ gateways = 2, env = {} } = {}) {
  const ports = new Set();
  while (ports.size < gateways + 2) ports.add(await freePort());
  const [lbPort, redisPort, ...gatewayPorts] = [...ports];
  const child = spawn(
    'bash',
    [
      localClusterScript,
      '--port', String(lbPort),
      '--gateway-ports', gatewayPorts.join(','),
      '--redis-port', String(redisPort),
      '--stats-port', '0',
      '--gateway-dll', gatewayDll,
      '--no-build',
      // Stops the cluster if this test process dies without calling stop().
      '--exit-with-parent',
    ],
    { cwd: repoRoot, env: { ...inheritedEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  let onReady;
  const ready = new Promise((resolve) => (onReady = resolve));
  const collect = (chunk) => {
    output += chunk;
    if (/^local-cluster: ready/m.test(output)) onReady();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const printedPids = () => [...output.matchAll(/ pid (\d+)$/gm)].map((m) => Number(m[1]));
  // If this test process dies first, leave nothing behind: the script's own cleanup, then by PID.
  const emergency = () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGTERM');
  };
  process.once('exit', emergency);

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGINT');
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
      for (const pid of printedPids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }, 40000);
    const result = await exited;
    clearTimeout(timer);
    process.removeListener('exit', emergency);
    return result;
  };

  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), 90000)));
  const outcome = await Promise.race([ready.then(() => 'ready'), exited.then(() => 'exited'), timeout]);
  clearTimeout(timer);
  if (outcome !== 'ready') {
    await stop();
    throw new Error(`local-cluster.sh did not become ready (${outcome}):\n${output}`);
  }
  const nodes = [...output.matchAll(/^\s+gateway\s+(\S+)\s+(http:\/\/\S+?)\/?\s+pid (\d+)$/gm)].map((m) => ({
    id: m[1],
    url: m[2],
    pid: Number(m[3]),
  }));
  const redis = output.match(/^\s+redis\s+127\.0\.0\.1:(\d+)\s+pid (\d+)$/m);
  const haproxy = output.match(/^\s+haproxy\s+\S+\s+pid (\d+)$/m);
  return {
    url: `http://127.0.0.1:${lbPort}`,
    gateways: nodes,
    redis: { port: Number(redis?.[1]), pid: Number(redis?.[2]) },
    haproxy: { pid: Number(haproxy?.[1]) },
    output: () => output,
    stop,
  };
}

/** This process's environment without settings that would change the cluster under test. */
function inheritedEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(SseCluster__|SSE_)/i.test(key)));
}

/** True while a process with this PID exists and is not a zombie. */
export function isRunning(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
