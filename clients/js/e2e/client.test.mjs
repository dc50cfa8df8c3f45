// The packaged client in a real browser, against a real gateway: the fetch transport
// (Authorization header, never a token in the URL) receives its own user's events and
// not another user's; the EventSource transport reconnects with a fresh ticket and
// resumes without loss or duplicates after the server closes its connection.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, startGateway, uniqueUser, watchConsole } from './support.mjs';

describe('@ssecluster/client in Chromium', () => {
  let gateway;
  let browser;

  before(async () => {
    gateway = await startGateway();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  it('fetch transport: receives its own events and not another user\'s', async () => {
    const page = await browser.newPage();
    const errors = watchConsole(page);
    const connects = [];
    page.on('request', async (request) => {
      if (new URL(request.url()).pathname === '/sse/connect') connects.push({ url: request.url(), headers: await request.allHeaders() });
    });
    await page.goto(gateway.url + '/');

    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const result = await page.evaluate(
      async ({ alice, bob }) => {
        const { SseClient } = await import('/lib/ssecluster-client.js');
        const token = async (userId) => {
          const response = await fetch('/dev/token', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ userId, roles: ['publisher'], topics: ['*'] }),
          });
          return (await response.json()).token;
        };
        const waitFor = async (condition, what, ms = 10000) => {
          const deadline = Date.now() + ms;
          while (!condition()) {
            if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
            await new Promise((r) => setTimeout(r, 25));
          }
        };
        const tokens = { [alice]: await token(alice), [bob]: await token(bob) };
        const open = (userId) => {
          const client = new SseClient({ url: '', transport: 'fetch', clientId: 'e2e-' + userId, getToken: () => tokens[userId] });
          const received = [];
          client.subscribe('*', (e) => received.push({ type: e.type, data: e.data, id: e.id }));
          client.connect();
          return { client, received };
        };
        const a = open(alice);
        const b = open(bob);
        await waitFor(() => a.client.connectionId && b.client.connectionId, 'welcome');

        const send = async (userId, data) => {
          const response = await fetch('/sse/send', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + tokens[alice] },
            body: JSON.stringify({ userId, eventType: 'private', data }),
          });
          if (response.status !== 202) throw new Error('send answered ' + response.status);
        };
        await send(alice, { to: 'alice', n: 1 });
        await send(bob, { to: 'bob', n: 1 });
        await send(alice, { to: 'alice', n: 2 });
        await waitFor(() => a.received.filter((e) => e.type === 'private').length >= 2, 'alice events');
        await waitFor(() => b.received.filter((e) => e.type === 'private').length >= 1, 'bob events');
        await new Promise((r) => setTimeout(r, 300)); // anything misrouted would show up by now
        const summary = {
          a: a.received,
          b: b.received,
          aState: a.client.state,
          aConnectionId: a.client.connectionId,
          aLastEventId: a.client.lastEventId,
          aWelcomeUser: a.client.welcome?.userId,
          tokens,
        };
        a.client.disconnect();
        b.client.disconnect();
        return summary;
      },
      { alice, bob },
    );

    assert.equal(result.aState, 'open');
    assert.equal(result.aWelcomeUser, alice);
    assert.deepEqual(
      result.a.filter((e) => e.type === 'private').map((e) => e.data),
      [
        { to: 'alice', n: 1 },
        { to: 'alice', n: 2 },
      ],
    );
    assert.deepEqual(
      result.b.filter((e) => e.type === 'private').map((e) => e.data),
      [{ to: 'bob', n: 1 }],
    );
    assert.ok(result.aLastEventId, 'the client tracks the last event id');

    // The fetch transport sent the token as a header, never in the URL.
    assert.equal(connects.length, 2);
    for (const request of connects) {
      assert.match(request.headers['authorization'] ?? '', /^Bearer /);
      assert.equal(request.headers['accept'], 'text/event-stream');
      for (const token of Object.values(result.tokens)) assert.ok(!request.url.includes(token), 'no token in the URL');
      assert.equal(new URL(request.url).searchParams.get('ticket'), null);
    }
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('eventsource transport: reconnects with a fresh ticket and resumes without loss or duplicates', async () => {
    const page = await browser.newPage();
    const errors = watchConsole(page);
    const connects = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/sse/connect') connects.push(request.url());
    });
    await page.goto(gateway.url + '/');
    const user = uniqueUser('carol');

    const result = await page.evaluate(async (user) => {
      const { SseClient } = await import('/lib/ssecluster-client.js');
      const response = await fetch('/dev/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ userId: user, roles: ['publisher'], topics: ['*'] }),
      });
      const { token } = await response.json();
      const waitFor = async (condition, what, ms = 20000) => {
        const deadline = Date.now() + ms;
        while (!condition()) {
          if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
          await new Promise((r) => setTimeout(r, 25));
        }
      };
      const send = async (n) => {
        const answer = await fetch('/sse/send', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token },
          body: JSON.stringify({ userId: user, eventType: 'step', data: { n } }),
        });
        if (answer.status !== 202) throw new Error('send answered ' + answer.status);
      };

      const client = new SseClient({ url: '', transport: 'eventsource', clientId: 'e2e-es', getToken: () => token, maxRetryMs: 5000 });
      const steps = [];
      const states = [];
      client.subscribe('step', (e) => steps.push(e.data.n));
      client.on('state', (s) => states.push(s));
      client.connect();
      await waitFor(() => client.connectionId, 'first welcome');
      const first = client.connectionId;

      await send(1);
      await waitFor(() => steps.includes(1), 'step 1');

      // The server closes this connection; events sent meanwhile must arrive after the resume.
      const closed = await fetch('/sse/connections/' + encodeURIComponent(first), {
        method: 'DELETE',
        headers: { Authorization: 'Bearer ' + token },
      });
      await waitFor(() => client.state !== 'open', 'the drop');
      await send(2);
      await send(3);
      await waitFor(() => client.connectionId && client.connectionId !== first, 'second welcome');
      await waitFor(() => steps.includes(3), 'steps 2 and 3');
      await send(4);
      await waitFor(() => steps.includes(4), 'step 4');
      const summary = { steps, states, first, second: client.connectionId, deleteStatus: closed.status };
      client.disconnect();
      return summary;
    }, user);

    assert.equal(result.deleteStatus, 204);
    assert.notEqual(result.first, result.second);
    assert.deepEqual(result.steps, [1, 2, 3, 4], 'every event once, in order');
    assert.ok(result.states.includes('reconnecting'));

    // Each connect used its own single-use ticket, and the reconnect resumed.
    assert.ok(connects.length >= 2);
    const tickets = connects.map((u) => new URL(u).searchParams.get('ticket'));
    assert.ok(tickets.every(Boolean), `every connect had a ticket: ${connects.join(" | ")}`);
    assert.equal(new Set(tickets).size, tickets.length, 'tickets are never reused');
    assert.ok(new URL(connects.at(-1)).searchParams.get('lastEventId'), 'the reconnect carried lastEventId');
    assert.deepEqual(errors, []);
    await page.close();
  });
  it('stops for good when an admin disconnects the user with reconnect:false, and on the 204 that follows', async () => {
    const page = await browser.newPage();
    const errors = watchConsole(page);
    await page.goto(gateway.url + '/');
    const user = uniqueUser('dave');

    const result = await page.evaluate(async (user) => {
      const { SseClient } = await import('/lib/ssecluster-client.js');
      const tokenFor = async (userId, roles) => {
        const response = await fetch('/dev/token', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ userId, roles, topics: ['*'] }),
        });
        return (await response.json()).token;
      };
      const userToken = await tokenFor(user, []);
      const adminToken = await tokenFor('e2e-admin', ['admin']);
      const waitFor = async (condition, what, ms = 10000) => {
        const deadline = Date.now() + ms;
        while (!condition()) {
          if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
          await new Promise((r) => setTimeout(r, 25));
        }
      };
      const client = new SseClient({ url: '', transport: 'eventsource', getToken: () => userToken });
      const closes = [];
      client.subscribe('close', (e) => closes.push(e.data));
      client.connect();
      await waitFor(() => client.connectionId, 'welcome');

      const answer = await fetch('/sse/users/' + encodeURIComponent(user) + '/disconnect', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + adminToken },
        body: JSON.stringify({ reason: 'e2e', reconnect: false }),
      });
      await waitFor(() => client.state === 'closed', 'closed after the close event');
      const afterClose = { state: client.state, closes: [...closes], disconnectStatus: answer.status };

      // Within the block window the gateway answers 204: EventSource only sees a failure,
      // the client learns the status and stays closed instead of retrying.
      const states = [];
      client.on('state', (s) => states.push(s));
      client.connect();
      await waitFor(() => client.state === 'closed' || client.state === 'error', 'the 204', 10000);
      await new Promise((r) => setTimeout(r, 1500));
      return { afterClose, states, final: client.state, error: client.error && client.error.message };
    }, user);

    assert.equal(result.afterClose.disconnectStatus, 200);
    assert.equal(result.afterClose.state, 'closed');
    assert.equal(result.afterClose.closes.at(-1)?.reconnect, false);
    assert.equal(result.final, 'closed', `stays closed (${result.error ?? 'no error'})`);
    assert.deepEqual(result.states, ['connecting', 'closed'], 'no retry loop');
    assert.deepEqual(
      errors.filter((e) => !/status of 204/.test(e)),
      [],
    );
    await page.close();
  });
});
