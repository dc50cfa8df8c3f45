// The dashboard's chat panel asks a question and shows the streamed answer of
// samples/AnswerBackend (the gateway hands it questions). The page is loaded through a TCP
// proxy on loopback that cuts the answer's stream once, in the middle of an event after a
// few chunks (a reset, as a dropped network does): the client resumes with
// GET /sse/answers/{id} + Last-Event-ID, and the panel ends showing exactly the canned
// answer, nothing lost or repeated. A gateway without an answer backend is shown as such.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { artifactsDir, cannedAnswer, launchBrowser, startGateway, uniqueUser, watchConsole } from './support.mjs';

/** Chunks the answer's POST response carries before the proxy cuts it. */
const CHUNKS_BEFORE_CUT = 3;

describe('dashboard chat panel', () => {
  let gateway;
  let proxy;
  let browser;

  before(async () => {
    gateway = await startGateway({ answers: true });
    proxy = await startCuttingProxy(new URL(gateway.url));
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await proxy?.close();
    await gateway?.stop();
  });

  it('shows the whole answer exactly once after its stream is cut mid-answer', async () => {
    assert.ok(gateway.answers, 'the gateway under test has an answer backend (e2e.sh starts samples/AnswerBackend)');
    const expected = cannedAnswer();
    const page = await browser.newPage({ viewport: { width: 1360, height: 1200 } });
    const errors = watchConsole(page);
    const answerRequests = [];
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (path.startsWith('/sse/answers')) answerRequests.push({ method: request.method(), path, headers: request.headers() });
    });

    await page.goto(proxy.url + '/');
    await page.waitForSelector('#userId');
    assert.equal(await page.getAttribute('#ask', 'disabled'), '', 'Ask is disabled until signed in');
    await page.fill('#userId', uniqueUser('chat'));
    await page.fill('#topics', '');
    await page.click('#signIn');
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'open', null, { timeout: 15000 });

    await page.fill('#question', 'What are streamed answers?');
    await page.click('#ask');
    await page.waitForFunction(() => ['done', 'error', 'unavailable'].includes(document.querySelector('#answerStatus')?.dataset.state), null, {
      timeout: 30000,
    });
    const status = await page.getAttribute('#answerStatus', 'data-state');
    assert.equal(status, 'done', `the answer finished (message: ${await page.textContent('#answerMessage')})`);

    // Exactly the canned answer: nothing lost, nothing repeated.
    assert.equal(await page.textContent('#answerText'), expected);
    assert.equal(Number(await page.textContent('#answerChunks')), Math.ceil(expected.length / 5));

    // The stream was really cut mid-answer, and the client resumed from where it was.
    assert.equal(proxy.cuts, 1, 'the proxy cut the answer stream once');
    const answerId = (await page.textContent('#answerId')).trim();
    const ask = answerRequests.filter((r) => r.method === 'POST' && r.path === '/sse/answers');
    const resumes = answerRequests.filter((r) => r.method === 'GET' && r.path === `/sse/answers/${answerId}`);
    assert.equal(ask.length, 1, 'one question was asked');
    assert.ok(resumes.length >= 1, `a resume request was made: ${JSON.stringify(answerRequests.map((r) => `${r.method} ${r.path}`))}`);
    assert.match(resumes[0].headers['last-event-id'] ?? '', /^[0-9a-z]+-[0-9a-z]+$/, 'the resume carried Last-Event-ID');
    assert.match(resumes[0].headers.authorization ?? '', /^Bearer \S+/, 'the resume carried the token');
    assert.ok(Number(await page.textContent('#answerResumes')) >= 1, 'the panel counted the resume');

    mkdirSync(artifactsDir, { recursive: true });
    await page.screenshot({ path: join(artifactsDir, 'dashboard-answer.png'), fullPage: true });
    assert.deepEqual(errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_RESET|network error/i.test(e)), [], 'no console errors');
    await page.close();
  });

  it('says so when the gateway has no answer backend (503)', async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 1200 } });
    // The gateway's own answer without SseCluster:Answers:BackendUrl (see AnswerEndpoints), for this page only.
    await page.route('**/sse/answers', (route) =>
      route.request().method() === 'POST'
        ? route.fulfill({
            status: 503,
            contentType: 'application/problem+json',
            body: JSON.stringify({ title: 'Service unavailable', status: 503, detail: 'streamed answers are off: SseCluster:Answers:BackendUrl is not set' }),
          })
        : route.continue(),
    );
    await page.goto(gateway.url + '/');
    await page.waitForSelector('#userId');
    await page.fill('#userId', uniqueUser('chat-off'));
    await page.fill('#topics', '');
    await page.click('#signIn');
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'open', null, { timeout: 15000 });
    await page.click('#ask');
    await page.waitForFunction(() => document.querySelector('#answerStatus')?.dataset.state === 'unavailable', null, { timeout: 10000 });
    assert.match(await page.textContent('#answerMessage'), /no answer backend/);
    assert.equal(await page.getAttribute('#answerMessage', 'data-kind'), 'error');
    assert.equal(await page.textContent('#answerText'), '');
    await page.close();
  });
});

/**
 * A TCP proxy on a free loopback port in front of `target`. On the connection that carries
 * `POST /sse/answers`, once the response has passed CHUNKS_BEFORE_CUT chunk events, it
 * forwards only the first half of the next one and resets both sides; it does this once.
 * Everything else passes untouched.
 */
function startCuttingProxy(target) {
  const sockets = new Set();
  const proxy = { cuts: 0, url: '', close: undefined };
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    let watching = false; // this connection carries the answer's POST
    let seen = ''; // its response so far, while watching
    client.on('data', (data) => {
      if (!watching && proxy.cuts === 0 && data.toString('latin1').includes('POST /sse/answers HTTP/1.1')) {
        watching = true;
        seen = '';
      }
      upstream.write(data);
    });
    upstream.on('data', (data) => {
      if (!watching || proxy.cuts > 0) {
        client.write(data);
        return;
      }
      const before = seen.length;
      seen += data.toString('latin1');
      const cutAt = nthIndex(seen, 'event: chunk', CHUNKS_BEFORE_CUT + 1);
      if (cutAt < 0) {
        client.write(data);
        return;
      }
      // Into the event after the ones let through: its first half only, then a reset.
      const keep = Math.max(0, cutAt + 8 - before);
      proxy.cuts++;
      client.write(data.subarray(0, keep), () => {
        client.resetAndDestroy();
        upstream.destroy();
      });
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      proxy.url = `http://127.0.0.1:${server.address().port}`;
      proxy.close = () =>
        new Promise((done) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => done());
        });
      resolve(proxy);
    });
  });
}

/** Where the n-th (1-based) occurrence of `needle` starts in `text`, or -1. */
function nthIndex(text, needle, n) {
  let at = -1;
  for (let i = 0; i < n; i++) {
    at = text.indexOf(needle, at + 1);
    if (at < 0) return -1;
  }
  return at;
}
