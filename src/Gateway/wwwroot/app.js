// The SseCluster dashboard: sign in with a development token, open a stream with the
// browser client (fetch transport, the token in an Authorization header), watch the events,
// publish, and follow the cluster's stats. Plain ES modules, no build step.
//
// Fetch, not EventSource: EventSource only dispatches the event types a listener was added
// for, so a type the page did not know in advance (an `invoice.paid` from some service) would
// never show. The fetch transport parses the stream itself and hands over every event.
import { SseClient } from './lib/ssecluster-client.js';

const STATS_INTERVAL_MS = 2000;
const CHART_POINTS = 60; // two minutes at one sample per 2 s
const MAX_EVENTS = 300;

const $ = (id) => document.getElementById(id);

const ui = {
  state: $('state'),
  connectionId: $('connectionId'),
  gatewayId: $('gatewayId'),
  lastEventId: $('lastEventId'),
  signInForm: $('signInForm'),
  userId: $('userId'),
  topics: $('topics'),
  signIn: $('signIn'),
  signOut: $('signOut'),
  signInMessage: $('signInMessage'),
  whoami: $('whoami'),
  events: $('events'),
  eventsEmpty: $('eventsEmpty'),
  eventCount: $('eventCount'),
  showHeartbeats: $('showHeartbeats'),
  clearEvents: $('clearEvents'),
  sendForm: $('sendForm'),
  sendUserId: $('sendUserId'),
  sendEventType: $('sendEventType'),
  sendData: $('sendData'),
  send: $('send'),
  sendResult: $('sendResult'),
  topicForm: $('topicForm'),
  topic: $('topic'),
  topicEventType: $('topicEventType'),
  topicData: $('topicData'),
  publish: $('publish'),
  publishResult: $('publishResult'),
  broadcastForm: $('broadcastForm'),
  broadcastEventType: $('broadcastEventType'),
  broadcastData: $('broadcastData'),
  broadcast: $('broadcast'),
  broadcastResult: $('broadcastResult'),
  statConnections: $('statConnections'),
  statUsers: $('statUsers'),
  statTopics: $('statTopics'),
  statRate: $('statRate'),
  statRateLabel: $('statRateLabel'),
  legendRate: $('legendRate'),
  statsUpdated: $('statsUpdated'),
  gateways: $('gateways'),
  chart: $('chart'),
  askForm: $('askForm'),
  question: $('question'),
  ask: $('ask'),
  cancelAnswer: $('cancelAnswer'),
  answerStatus: $('answerStatus'),
  answerMessage: $('answerMessage'),
  answerId: $('answerId'),
  answerChunks: $('answerChunks'),
  answerResumes: $('answerResumes'),
  answerText: $('answerText'),
};

/** The signed-in session: user, token and its stream. */
let session = null;
let eventCount = 0;

// ---- HTTP ------------------------------------------------------------------------------

/** Fetches JSON; returns { ok, status, body } and never throws. */
async function request(method, url, { token, body } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
    const text = await response.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { ok: response.ok, status: response.status, body: parsed, headers: response.headers };
  } catch (error) {
    return { ok: false, status: 0, body: { title: error instanceof Error ? error.message : String(error) } };
  }
}

function problemText(result) {
  if (result.status === 0) return `network error: ${result.body?.title ?? 'unreachable'}`;
  const body = result.body;
  if (body && typeof body === 'object') {
    const details = body.errors ? Object.values(body.errors).flat().join('; ') : '';
    return [`HTTP ${result.status}`, body.title, body.detail, details].filter(Boolean).join(' · ');
  }
  return `HTTP ${result.status}${body ? ' · ' + String(body).slice(0, 200) : ''}`;
}

/** A dev token for the user, valid an hour. */
async function issueToken(userId) {
  return request('POST', '/dev/token', {
    body: { userId, roles: ['publisher', 'admin'], topics: ['*'], lifetimeSeconds: 3600 },
  });
}

/** The session's token, renewed a minute before it expires. */
async function currentToken() {
  if (!session) throw new Error('signed out');
  const expiresAt = Date.parse(session.expiresAt ?? '');
  if (Number.isFinite(expiresAt) && expiresAt - Date.now() < 60_000) {
    const renewed = await issueToken(session.userId);
    if (renewed.ok && renewed.body?.token) {
      session.token = renewed.body.token;
      session.expiresAt = renewed.body.expiresAt;
    }
  }
  return session.token;
}

// ---- sign in / out ---------------------------------------------------------------------

function parseTopics(text) {
  return text
    .split(/[\s,]+/)
    .map((t) => t.trim())
    .filter(Boolean);
}

async function signIn(event) {
  event.preventDefault();
  const userId = ui.userId.value.trim();
  if (!userId) return;
  const topics = parseTopics(ui.topics.value);
  setMessage(ui.signInMessage, 'Getting a development token…');
  ui.signIn.disabled = true;
  const result = await issueToken(userId);
  ui.signIn.disabled = false;
  if (!result.ok || !result.body?.token) {
    const why = result.status === 404 ? 'development tokens are off on this gateway (Development environment or SseCluster:Auth:DevTokens)' : problemText(result);
    setMessage(ui.signInMessage, `Sign-in failed: ${why}`, 'error');
    return;
  }
  signOut({ quiet: true });
  clearEvents();

  const client = new SseClient({
    url: '', // this page's origin
    transport: 'fetch',
    clientId: 'dashboard',
    topics,
    getToken: currentToken,
  });
  session = {
    userId,
    topics,
    token: result.body.token,
    expiresAt: result.body.expiresAt,
    client,
    offs: [],
  };

  session.offs.push(
    client.on('change', renderConnection),
    client.on('error', (error) => setMessage(ui.signInMessage, `Stream stopped: ${error.message}`, 'error')),
    client.subscribe('*', onEvent),
  );
  client.connect();

  ui.whoami.hidden = false;
  ui.whoami.textContent = '';
  ui.whoami.append('Signed in as ', strong(userId), topics.length ? ` · topics ${topics.join(', ')}` : ' · no topics');
  ui.signOut.hidden = false;
  ui.signIn.textContent = 'Switch user';
  if (!ui.sendUserId.value) ui.sendUserId.value = userId;
  for (const button of [ui.send, ui.publish, ui.broadcast, ui.ask]) button.disabled = false;
  setMessage(ui.signInMessage, '');
  setMessage(ui.answerMessage, '');
  renderConnection();
  startStats();
}

function signOut({ quiet = false } = {}) {
  stopStats();
  answering?.controller.abort();
  if (session) {
    for (const off of session.offs) off();
    session.client.disconnect();
    session = null;
  }
  renderConnection();
  if (quiet) return;
  ui.whoami.hidden = true;
  ui.signOut.hidden = true;
  ui.signIn.textContent = 'Sign in & connect';
  for (const button of [ui.send, ui.publish, ui.broadcast, ui.ask]) button.disabled = true;
  setMessage(ui.signInMessage, 'Signed out.');
  setMessage(ui.answerMessage, 'Sign in to ask.');
}

// ---- connection and events -------------------------------------------------------------

function renderConnection() {
  const client = session?.client;
  const state = client ? client.state : 'idle';
  ui.state.textContent = state;
  ui.state.dataset.state = state;
  ui.connectionId.textContent = client?.connectionId ?? '—';
  ui.gatewayId.textContent = client?.welcome?.gatewayId ?? '—';
  ui.lastEventId.textContent = client?.lastEventId || '—';
  ui.lastEventId.title = client?.lastEventId ?? '';
}

function onEvent(event) {
  if (event.type === 'welcome') renderConnection();
  eventCount++;
  ui.eventCount.textContent = String(eventCount);
  if (session) session.received = (session.received ?? 0) + 1;

  const item = document.createElement('li');
  item.className = `event type-${cssToken(event.type)}`;
  item.dataset.type = event.type;
  item.dataset.id = event.id;
  item.dataset.testid = 'event';
  if (event.type === 'heartbeat' && !ui.showHeartbeats.checked) item.hidden = true;

  const head = document.createElement('div');
  head.className = 'event-head';
  const type = document.createElement('span');
  type.className = 'event-type';
  type.textContent = event.type;
  const id = document.createElement('code');
  id.className = 'event-id';
  id.textContent = event.id ? `id ${event.id}` : 'no id';
  const time = document.createElement('time');
  time.className = 'event-time';
  time.dateTime = new Date(event.receivedAt).toISOString();
  time.textContent = new Date(event.receivedAt).toLocaleTimeString();
  head.append(type, id, time);

  const data = document.createElement('pre');
  data.className = 'event-data';
  data.textContent = typeof event.data === 'string' ? event.data : JSON.stringify(event.data, null, 2);
  item.append(head, data);

  ui.events.prepend(item);
  while (ui.events.childElementCount > MAX_EVENTS) ui.events.lastElementChild.remove();
  ui.eventsEmpty.hidden = true;
}

function clearEvents() {
  ui.events.replaceChildren();
  eventCount = 0;
  ui.eventCount.textContent = '0';
  ui.eventsEmpty.hidden = false;
}

function cssToken(text) {
  return String(text).replace(/[^A-Za-z0-9_-]/g, '-');
}

// ---- publishing ------------------------------------------------------------------------

/** The textarea's content as JSON when it parses, else as a string. */
function dataFrom(textarea) {
  const text = textarea.value.trim();
  if (text === '') return '';
  try {
    return JSON.parse(text);
  } catch {
    return textarea.value;
  }
}

function withEventType(body, input) {
  const eventType = input.value.trim();
  return eventType ? { eventType, ...body } : body;
}

async function publish(event, { button, result, path, body }) {
  event.preventDefault();
  if (!session) {
    setMessage(result, 'Sign in first.', 'error');
    return;
  }
  button.disabled = true;
  setMessage(result, 'Sending…');
  const answer = await request('POST', path, { token: await currentToken(), body });
  button.disabled = false;
  if (answer.ok) {
    const receipt = answer.body ?? {};
    const streams = (receipt.events ?? []).map((e) => `${e.stream}#${e.sequence}`).join(', ');
    setMessage(result, `Accepted · ${receipt.connections ?? 0} connection(s)${streams ? ' · ' + streams : ''}`, 'ok');
  } else {
    const retry = answer.status === 429 ? ` (retry after ${answer.headers?.get('Retry-After') ?? '?'} s)` : '';
    setMessage(result, problemText(answer) + retry, 'error');
  }
}

ui.sendForm.addEventListener('submit', (event) => {
  const userId = ui.sendUserId.value.trim();
  void publish(event, {
    button: ui.send,
    result: ui.sendResult,
    path: '/sse/send',
    body: withEventType({ userId, data: dataFrom(ui.sendData) }, ui.sendEventType),
  });
});

ui.topicForm.addEventListener('submit', (event) => {
  const topic = ui.topic.value.trim();
  void publish(event, {
    button: ui.publish,
    result: ui.publishResult,
    path: `/sse/topics/${encodeURIComponent(topic)}/publish`,
    body: withEventType({ data: dataFrom(ui.topicData) }, ui.topicEventType),
  });
});

ui.broadcastForm.addEventListener('submit', (event) => {
  void publish(event, {
    button: ui.broadcast,
    result: ui.broadcastResult,
    path: '/sse/broadcast',
    body: withEventType({ data: dataFrom(ui.broadcastData) }, ui.broadcastEventType),
  });
});

// Tabs of the publish card.
for (const tab of document.querySelectorAll('.tab')) {
  tab.addEventListener('click', () => {
    for (const other of document.querySelectorAll('.tab')) {
      const active = other === tab;
      other.classList.toggle('active', active);
      other.setAttribute('aria-selected', String(active));
    }
    for (const panel of document.querySelectorAll('.tab-panel')) panel.hidden = panel.dataset.panel !== tab.dataset.tab;
  });
}

// ---- streamed answer -------------------------------------------------------------------
// The question goes to POST /sse/answers with the session's client (its token getter and
// backoff); the client resumes a broken answer stream from the last chunk id by itself, so
// the panel only appends what it is handed. Chunks are shown as text nodes, never as HTML.

/** The answer being streamed: { controller, chunks, resumes }, or null. */
let answering = null;

async function ask(event) {
  event.preventDefault();
  if (!session) {
    setMessage(ui.answerMessage, 'Sign in first.', 'error');
    return;
  }
  const question = ui.question.value.trim();
  if (!question) return;
  answering?.controller.abort();
  const run = { controller: new AbortController(), chunks: 0, resumes: 0 };
  answering = run;
  const current = () => answering === run;
  ui.answerText.replaceChildren();
  ui.answerId.textContent = '—';
  ui.answerChunks.textContent = '0';
  ui.answerResumes.textContent = '0';
  ui.cancelAnswer.hidden = false;
  setAnswerStatus('asking');
  setMessage(ui.answerMessage, 'Asking…');
  try {
    const answer = await session.client.streamAnswer(
      { question },
      {
        signal: run.controller.signal,
        onAnswer: ({ answerId }) => {
          if (current()) ui.answerId.textContent = answerId;
        },
        onState: (state) => {
          if (!current()) return;
          if (state === 'resuming') {
            run.resumes++;
            ui.answerResumes.textContent = String(run.resumes);
            setMessage(ui.answerMessage, 'The stream broke: resuming from the last chunk…');
          } else if (state === 'streaming') {
            setMessage(ui.answerMessage, '');
          }
          setAnswerStatus(state);
        },
        onChunk: (chunk) => {
          if (!current()) return;
          run.chunks++;
          ui.answerChunks.textContent = String(run.chunks);
          // The same rule as the client's answer.text: string data is the answer's text.
          if (typeof chunk.data === 'string') ui.answerText.append(chunk.data);
          ui.answerText.scrollTop = ui.answerText.scrollHeight;
        },
      },
    );
    if (!current()) return;
    setAnswerStatus('done');
    const resumed = run.resumes ? ` · resumed ${run.resumes}×` : '';
    setMessage(ui.answerMessage, `Done · ${answer.chunks.length} chunks${resumed}`, 'ok');
  } catch (error) {
    if (!current()) return;
    if (error?.name === 'AbortError') {
      setAnswerStatus('cancelled');
      setMessage(ui.answerMessage, 'Stopped.');
    } else if (error?.status === 503) {
      const detail = error.problem?.detail ?? '';
      setAnswerStatus('unavailable');
      setMessage(
        ui.answerMessage,
        /BackendUrl/.test(detail)
          ? 'This gateway has no answer backend (SseCluster:Answers:BackendUrl is not set), so it cannot answer questions.'
          : `Streamed answers are unavailable right now: ${detail || error.message}`,
        'error',
      );
    } else {
      setAnswerStatus('error');
      setMessage(ui.answerMessage, error?.reason ? `The answer failed: ${error.reason}` : String(error?.message ?? error), 'error');
    }
  } finally {
    if (current()) {
      answering = null;
      ui.cancelAnswer.hidden = true;
    }
  }
}

function setAnswerStatus(state) {
  ui.answerStatus.textContent = state;
  ui.answerStatus.dataset.state = state;
}

ui.askForm.addEventListener('submit', (event) => void ask(event));
ui.cancelAnswer.addEventListener('click', () => answering?.controller.abort());

// ---- cluster stats ---------------------------------------------------------------------

const stats = {
  timer: undefined,
  samples: [], // { at, connections, rate }
  metricsAvailable: true,
  lastPublished: undefined, // { at, total }
  lastReceived: undefined, // { at, count }
  inFlight: false,
};

function startStats() {
  stopStats();
  stats.samples = [];
  stats.lastPublished = undefined;
  stats.lastReceived = undefined;
  stats.metricsAvailable = true;
  void pollStats();
  stats.timer = setInterval(() => void pollStats(), STATS_INTERVAL_MS);
}

function stopStats() {
  if (stats.timer !== undefined) clearInterval(stats.timer);
  stats.timer = undefined;
  ui.statsUpdated.textContent = 'not polling';
}

async function pollStats() {
  if (!session || stats.inFlight) return;
  stats.inFlight = true;
  try {
    const token = await currentToken();
    const [answer, rate] = await Promise.all([request('GET', '/sse/stats?top=10', { token }), eventRate()]);
    if (!session) return;
    if (!answer.ok) {
      ui.statsUpdated.textContent = `stats: ${problemText(answer)}`;
      return;
    }
    renderStats(answer.body ?? {}, rate);
  } catch (error) {
    ui.statsUpdated.textContent = `stats: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    stats.inFlight = false;
  }
}

/** Events per second: published cluster-wide (from /metrics), else received by this page. */
async function eventRate() {
  const now = performance.now();
  if (stats.metricsAvailable) {
    const metrics = await fetchMetrics();
    if (metrics !== undefined) {
      const previous = stats.lastPublished;
      stats.lastPublished = { at: now, total: metrics };
      if (!previous) return { value: 0, source: 'published' };
      const seconds = (now - previous.at) / 1000;
      return { value: seconds > 0 ? Math.max(0, metrics - previous.total) / seconds : 0, source: 'published' };
    }
    stats.metricsAvailable = false;
  }
  const count = session?.received ?? 0;
  const previous = stats.lastReceived;
  stats.lastReceived = { at: now, count };
  if (!previous) return { value: 0, source: 'received' };
  const seconds = (now - previous.at) / 1000;
  return { value: seconds > 0 ? Math.max(0, count - previous.count) / seconds : 0, source: 'received' };
}

/** Sum of sse_events_published_total over its label sets, or undefined. */
async function fetchMetrics() {
  try {
    const response = await fetch('/metrics', { cache: 'no-store', headers: { Accept: 'text/plain' } });
    if (!response.ok) return undefined;
    const text = await response.text();
    let total;
    for (const line of text.split('\n')) {
      const match = /^sse_events_published_total(?:\{[^}]*\})?\s+([0-9.eE+-]+)/.exec(line);
      if (match) total = (total ?? 0) + Number(match[1]);
    }
    return total;
  } catch {
    return undefined;
  }
}

function renderStats(body, rate) {
  const gateways = Array.isArray(body.gateways) ? body.gateways : [];
  const connections = Number(body.connections ?? gateways.reduce((sum, g) => sum + (g.connections ?? 0), 0));
  ui.statConnections.textContent = formatNumber(connections);
  ui.statUsers.textContent = formatNumber(body.users);
  ui.statTopics.textContent = formatNumber(body.topics);
  ui.statRate.textContent = rate.value.toFixed(rate.value < 10 ? 1 : 0);
  const label = rate.source === 'published' ? 'events / s published' : 'events / s received here';
  ui.statRateLabel.textContent = label;
  ui.legendRate.textContent = label;
  ui.statsUpdated.textContent = `updated ${new Date().toLocaleTimeString()}`;

  renderGateways(gateways);
  stats.samples.push({ connections, rate: rate.value });
  if (stats.samples.length > CHART_POINTS) stats.samples.shift();
  renderChart();
}

function renderGateways(gateways) {
  const max = Math.max(1, ...gateways.map((g) => g.connections ?? 0));
  const rows = gateways.map((g) => {
    const row = document.createElement('tr');
    row.dataset.gatewayId = g.gatewayId ?? '';
    const name = document.createElement('td');
    name.textContent = g.gatewayId ?? '?';
    if (session?.client.welcome?.gatewayId === g.gatewayId) name.append(' ', badge('you'));
    const count = document.createElement('td');
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.round(((g.connections ?? 0) / max) * 100)}%`;
    const value = document.createElement('span');
    value.className = 'bar-value';
    value.textContent = formatNumber(g.connections);
    count.append(bar, value);
    const users = document.createElement('td');
    users.textContent = formatNumber(g.users);
    const seen = document.createElement('td');
    seen.textContent = g.lastSeen ? new Date(g.lastSeen).toLocaleTimeString() : '—';
    row.append(name, count, users, seen);
    return row;
  });
  if (rows.length === 0) {
    const row = document.createElement('tr');
    row.className = 'placeholder';
    const cell = document.createElement('td');
    cell.colSpan = 4;
    cell.textContent = 'No gateway reported.';
    row.append(cell);
    rows.push(row);
  }
  ui.gateways.replaceChildren(...rows);
}

const SVG = 'http://www.w3.org/2000/svg';

/** Two stacked sparklines: connections (top), events per second (bottom). */
function renderChart() {
  const svg = ui.chart;
  // Draw in the element's own pixels so text and strokes are never stretched.
  const width = Math.max(200, Math.round(svg.getBoundingClientRect().width) || 600);
  const bandHeight = 80;
  const gap = 20;
  svg.setAttribute('viewBox', `0 0 ${width} ${bandHeight * 2 + gap}`);
  svg.replaceChildren();
  const bands = [
    { key: 'connections', top: 0, className: 'line connections', format: (v) => formatNumber(v) },
    { key: 'rate', top: bandHeight + gap, className: 'line rate', format: (v) => v.toFixed(v < 10 ? 1 : 0) },
  ];
  for (const band of bands) {
    const values = stats.samples.map((s) => s[band.key]);
    const max = Math.max(1, ...values);
    const base = band.top + bandHeight;
    svg.append(svgElement('line', { x1: 0, x2: width, y1: base, y2: base, class: 'axis' }));
    svg.append(svgElement('text', { x: 4, y: band.top + 12, class: 'axis-label' }, `max ${band.format(max)}`));
    if (values.length === 0) continue;
    const step = width / (CHART_POINTS - 1);
    const offset = (CHART_POINTS - values.length) * step;
    const points = values.map((v, i) => [offset + i * step, base - (v / max) * (bandHeight - 16)]);
    const path = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
    const area = `${points[0][0].toFixed(1)},${base} ${path} ${points[points.length - 1][0].toFixed(1)},${base}`;
    svg.append(svgElement('polygon', { points: area, class: band.className + ' area' }));
    svg.append(svgElement('polyline', { points: path, class: band.className }));
    const [lx, ly] = points[points.length - 1];
    svg.append(svgElement('circle', { cx: lx, cy: ly, r: 3.5, class: band.className + ' dot' }));
  }
}

function svgElement(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

// ---- small helpers ---------------------------------------------------------------------

function setMessage(element, text, kind) {
  element.textContent = text;
  element.dataset.kind = kind ?? '';
}

function strong(text) {
  const element = document.createElement('strong');
  element.textContent = text;
  return element;
}

function badge(text) {
  const element = document.createElement('span');
  element.className = 'badge';
  element.textContent = text;
  return element;
}

function formatNumber(value) {
  const number = Number(value);
  return Number.isFinite(number) ? number.toLocaleString() : '—';
}

// ---- wiring ----------------------------------------------------------------------------

ui.signInForm.addEventListener('submit', (event) => void signIn(event));
ui.signOut.addEventListener('click', () => signOut());
// The Orleans Dashboard's own requests carry no token: signed in as an admin, trade the token for its /orleans cookie
// first. The tab is opened at once (a tab opened after an await counts as a pop-up) and sent on when the cookie is set.
$('orleansDashboard')?.addEventListener('click', async (event) => {
  if (!session) return; // not signed in: the link opens the dashboard, which answers 401
  event.preventDefault();
  const tab = window.open('about:blank', '_blank');
  const result = await request('POST', '/sse/orleans-session', { token: await currentToken() });
  if (result.ok && result.body?.url) {
    if (tab) tab.location.href = result.body.url;
    else window.location.assign(result.body.url);
    return;
  }
  tab?.close();
  setMessage(ui.signInMessage, `Orleans Dashboard: ${problemText(result)}`, 'error');
});
ui.clearEvents.addEventListener('click', clearEvents);
ui.showHeartbeats.addEventListener('change', () => {
  for (const item of ui.events.querySelectorAll('li[data-type="heartbeat"]')) item.hidden = !ui.showHeartbeats.checked;
});
window.addEventListener('pagehide', () => session?.client.disconnect());
renderConnection();
renderChart();
window.addEventListener('resize', renderChart);

// For scripts and tests: the page's current client (null when signed out).
Object.defineProperty(window, 'sseDashboard', {
  value: Object.freeze({
    get client() {
      return session?.client ?? null;
    },
    get userId() {
      return session?.userId ?? null;
    },
  }),
});
