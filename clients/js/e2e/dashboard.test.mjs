// The dashboard at "/": loads without console errors, signs in, connects with the fetch
// transport (token in the Authorization header, never in the URL), and shows an event sent
// to the user, a topic publish, a broadcast, and an event of a type the page never saw
// published by someone else; cluster stats are drawn.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { artifactsDir, launchBrowser, startGateway, uniqueUser, watchConsole } from './support.mjs';

describe('dashboard', () => {
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

  it('signs in, connects and shows events sent to the user, a topic and everyone', async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    const errors = watchConsole(page);
    const connectRequests = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/sse/connect') connectRequests.push({ url: request.url(), headers: request.headers() });
    });

    await page.goto(gateway.url + '/');
    await page.waitForSelector('#userId');
    assert.equal(await page.textContent('#state'), 'idle');

    const user = uniqueUser('dash');
    await page.fill('#userId', user);
    await page.fill('#topics', 'news');
    await page.click('#signIn');

    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'open', null, { timeout: 15000 });
    await page.waitForFunction(() => (document.querySelector('#connectionId')?.textContent ?? '—') !== '—');
    const connectionId = await page.textContent('#connectionId');
    assert.match(connectionId, /\S+/);
    await page.waitForSelector('#events li[data-type="welcome"]');

    // The stream was opened with the token in a header, never in the URL.
    assert.ok(connectRequests.length >= 1, 'a connect request was made');
    const connectUrl = new URL(connectRequests[0].url);
    assert.match(connectRequests[0].headers.authorization ?? '', /^Bearer \S+/, 'token in the Authorization header');
    assert.equal(connectUrl.searchParams.get('access_token'), null);
    assert.equal(connectUrl.searchParams.get('ticket'), null);
    assert.equal(connectUrl.searchParams.get('topics'), 'news');

    // A service publishes an event type the page has never seen or been told of: it shows all the same.
    const invoiceNonce = `invoice-${Date.now()}`;
    const publisher = await devToken('e2e-dashboard-billing', ['publisher']);
    const invoice = await fetch(`${gateway.url}/sse/send`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${publisher}` },
      body: JSON.stringify({ userId: user, eventType: 'invoice.paid', data: { invoice: invoiceNonce, amount: 42 } }),
    });
    assert.equal(invoice.status, 202, await invoice.text());
    await page.locator('#events li[data-type="invoice.paid"]', { hasText: invoiceNonce }).waitFor({ timeout: 10000 });

    // Send to this user.
    const sendNonce = `to-user-${Date.now()}`;
    await page.fill('#sendUserId', user);
    await page.fill('#sendEventType', 'notice');
    await page.fill('#sendData', JSON.stringify({ title: sendNonce }));
    await page.click('#send');
    const sent = page.locator('#events li[data-type="notice"]', { hasText: sendNonce });
    await sent.waitFor({ timeout: 10000 });
    // The event can reach the page over its stream before the 202 of the send does.
    await waitForText(page, '#sendResult', /Accepted/);
    assert.notEqual(await sent.getAttribute('data-id'), '');

    // Publish to a topic the connection reads.
    const topicNonce = `topic-${Date.now()}`;
    await page.click('.tab[data-tab="topic"]');
    await page.fill('#topic', 'news');
    await page.fill('#topicEventType', 'headline');
    await page.fill('#topicData', JSON.stringify({ headline: topicNonce }));
    await page.click('#publish');
    await page.locator('#events li[data-type="headline"]', { hasText: topicNonce }).waitFor({ timeout: 10000 });

    // Broadcast (no event type: arrives as "message").
    const broadcastNonce = `broadcast-${Date.now()}`;
    await page.click('.tab[data-tab="broadcast"]');
    await page.fill('#broadcastData', JSON.stringify({ title: broadcastNonce }));
    await page.click('#broadcast');
    await page.locator('#events li[data-type="message"]', { hasText: broadcastNonce }).waitFor({ timeout: 10000 });
    await waitForText(page, '#broadcastResult', /Accepted/);

    // Stats polled and drawn.
    await page.waitForFunction(() => Number((document.querySelector('#statConnections')?.textContent ?? '').replace(/\D/g, '')) >= 1, null, {
      timeout: 10000,
    });
    await page.waitForFunction(() => document.querySelectorAll('#chart polyline').length === 2, null, { timeout: 10000 });
    await page.waitForFunction(() => document.querySelectorAll('#gateways tr[data-gateway-id]').length >= 1);

    // Let the chart gather a few samples for the screenshot.
    await page.waitForTimeout(2500);
    mkdirSync(artifactsDir, { recursive: true });
    await page.screenshot({ path: join(artifactsDir, 'dashboard.png'), fullPage: true });

    assert.deepEqual(errors, [], 'no console errors');
    await page.close();
  });

  /** Waits until the element's text matches; fails with what it showed last. */
  async function waitForText(page, selector, pattern) {
    try {
      await page.waitForFunction(
        ([sel, source, flags]) => new RegExp(source, flags).test(document.querySelector(sel)?.textContent ?? ''),
        [selector, pattern.source, pattern.flags],
        { timeout: 10000 },
      );
    } catch {
      assert.match(await page.textContent(selector), pattern);
    }
  }

  async function devToken(userId, roles) {
    const response = await fetch(`${gateway.url}/dev/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ userId, roles }),
    });
    const text = await response.text();
    assert.equal(response.status, 200, text);
    return JSON.parse(text).token;
  }
});
