// Shared pieces of the browser tests: the gateway under test and the system Chromium.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const gatewayProject = fileURLToPath(new URL('../../../src/Gateway/', import.meta.url));
export const gatewayDll = fileURLToPath(new URL('../../../src/Gateway/bin/Release/net10.0/SseCluster.Gateway.dll', import.meta.url));
export const artifactsDir = fileURLToPath(new URL('./artifacts/', import.meta.url));

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
 * The gateway to test: GATEWAY_URL when e2e.sh started one, else one started here (from
 * the Release build) and ended by PID when `stop()` is called.
 */
export async function startGateway() {
  if (process.env.GATEWAY_URL) return { url: process.env.GATEWAY_URL.replace(/\/+$/, ''), stop: async () => {} };
  if (!existsSync(gatewayDll)) throw new Error(`gateway not built: ${gatewayDll} (run dotnet build src/Gateway -c Release)`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn('dotnet', [gatewayDll, '--urls', url], {
    cwd: gatewayProject, // content root: appsettings.Development.json and wwwroot
    env: { ...process.env, ASPNETCORE_ENVIRONMENT: 'Development', DOTNET_NOLOGO: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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

  const deadline = Date.now() + 30000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${output}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`gateway did not answer /healthz within 30 s:\n${output}`);
    }
    await sleep(200);
  }
  return { url, stop };
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
