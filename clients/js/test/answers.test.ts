import { describe, expect, it, vi } from 'vitest';
import { AnswerError } from '../src/answers.js';
import type { AnswerChunk, AnswerState } from '../src/answers.js';
import { SseClient, streamAnswer } from '../src/client.js';
import type { SseClientOptions } from '../src/types.js';
import { FakeFetch, fakeClient, flush, json } from './helpers.js';

function setup(overrides: Partial<SseClientOptions> = {}) {
  const { server, scheduler, client, getToken } = fakeClient(overrides);
  const chunks: AnswerChunk[] = [];
  const states: AnswerState[] = [];
  const named: string[] = [];
  const callbacks = {
    onChunk: (chunk: AnswerChunk) => chunks.push(chunk),
    onState: (state: AnswerState) => states.push(state),
    onAnswer: (answer: { answerId: string }) => named.push(answer.answerId),
  };
  return { server, scheduler, client, chunks, states, named, callbacks, getToken };
}

/** An answer stream's events as the gateway writes them (ids `<sequence>-<epoch>`, base 36). */
const ANSWER = 'event: answer\nid: 1-e1\ndata: {"answerId":"A1","userId":"alice"}\n\n';
const chunk = (sequence: number, text: string, type = 'chunk') => `id: ${sequence.toString(36)}-e1\nevent: ${type}\ndata: ${JSON.stringify(text)}\n\n`;
const DONE = (sequence: number) => `id: ${sequence.toString(36)}-e1\nevent: done\ndata: {"answerId":"A1"}\n\n`;

function problem(status: number, detail: string): Response {
  return new Response(JSON.stringify({ type: 'about:blank', title: 'Refused', status, detail }), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
}

/** Settles a promise into a value the test can inspect without an unhandled rejection. */
function outcome<T>(promise: Promise<T>) {
  const result: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  promise.then(
    (value) => Object.assign(result, { value, settled: true }),
    (error: unknown) => Object.assign(result, { error, settled: true }),
  );
  return result;
}

describe('streamAnswer', () => {
  it('POSTs the question as JSON with the bearer token and resolves with every chunk at done', async () => {
    const ctx = setup();
    const stream = ctx.server.stream();
    const answer = outcome(ctx.client.streamAnswer({ question: 'Why?' }, ctx.callbacks));
    await flush();

    const call = ctx.server.calls[0]!;
    expect(call.url).toBe('http://gateway.test/sse/answers');
    expect(call.init.method).toBe('POST');
    expect(call.init.body).toBe('{"question":"Why?"}');
    expect(call.headers['content-type']).toBe('application/json');
    expect(call.headers['authorization']).toBe('Bearer token-1');
    expect(call.headers['accept']).toBe('text/event-stream');
    expect(call.headers['last-event-id']).toBeUndefined();

    stream.write(ANSWER + chunk(2, '## He') + ': heartbeat\n\n' + chunk(3, 'llo\n') + chunk(4, '{"tool":1}', 'tool'));
    await flush();
    expect(ctx.named).toEqual(['A1']);
    expect(ctx.chunks.map((c) => [c.type, c.data, c.id])).toEqual([
      ['chunk', '## He', '2-e1'],
      ['chunk', 'llo\n', '3-e1'],
      ['tool', '{"tool":1}', '4-e1'],
    ]);
    expect(answer.settled).toBe(false);

    stream.write(DONE(5));
    await flush();
    expect(answer.error).toBeUndefined();
    expect(answer.value?.answerId).toBe('A1');
    expect(answer.value?.userId).toBe('alice');
    expect(answer.value?.text).toBe('## Hello\n{"tool":1}');
    expect(answer.value?.chunks).toEqual(ctx.chunks);
    expect(ctx.states).toEqual(['asking', 'streaming']);
    // Done: the request is released and nothing more is asked.
    expect((call.init.signal as AbortSignal).aborted).toBe(true);
    expect(ctx.scheduler.pending).toEqual([]);
    expect(ctx.server.calls).toHaveLength(1);
  });

  it('resumes a stream cut mid-answer from the last id, after the backoff, delivering each chunk once', async () => {
    const ctx = setup();
    const first = ctx.server.stream();
    const answer = outcome(ctx.client.streamAnswer({ question: 'Why?' }, ctx.callbacks));
    await flush();
    // The cut comes in the middle of the fourth event: that half event is not delivered.
    first.write(ANSWER + chunk(2, 'one ') + chunk(3, 'two ') + 'id: 4-e1\nevent: chunk\ndata: "thr');
    first.fail(new TypeError('network error'));
    await flush();
    expect(ctx.chunks.map((c) => c.data)).toEqual(['one ', 'two ']);
    expect(ctx.states).toEqual(['asking', 'streaming', 'resuming']);
    expect(ctx.scheduler.pending).toEqual([500]); // random 0.5 × base 1000

    // The resume replays from an older position too (the chunk before the cut comes again).
    const second = ctx.server.stream();
    ctx.scheduler.runNext();
    await flush();
    const resume = ctx.server.calls[1]!;
    expect(resume.url).toBe('http://gateway.test/sse/answers/A1');
    expect(resume.init.method).toBe('GET');
    expect(resume.init.body).toBeUndefined();
    expect(resume.headers['last-event-id']).toBe('3-e1');
    expect(resume.headers['authorization']).toBe('Bearer token-2');
    second.write(chunk(3, 'two ') + chunk(4, 'three ') + chunk(5, 'four'));
    // This response ends early too (a gateway going away): resume again.
    second.end();
    await flush();
    expect(ctx.states.at(-1)).toBe('resuming');

    const third = ctx.server.stream();
    ctx.scheduler.runNext();
    await flush();
    expect(ctx.server.calls[2]!.headers['last-event-id']).toBe('5-e1');
    third.write(chunk(5, 'four') + DONE(6));
    await flush();

    expect(answer.error).toBeUndefined();
    expect(answer.value?.text).toBe('one two three four');
    expect(answer.value?.chunks.map((c) => c.id)).toEqual(['2-e1', '3-e1', '4-e1', '5-e1']);
    expect(ctx.chunks.map((c) => c.data)).toEqual(['one ', 'two ', 'three ', 'four']);
    expect(ctx.named).toEqual(['A1']);
    expect(ctx.server.calls).toHaveLength(3);
  });

  it('retries a resume the gateway cannot serve yet (503) and gives up after maxResumeAttempts', async () => {
    const ctx = setup();
    const first = ctx.server.stream();
    const answer = outcome(ctx.client.streamAnswer({ q: 1 }, { ...ctx.callbacks, maxResumeAttempts: 2 }));
    await flush();
    first.write(ANSWER + chunk(2, 'a'));
    first.fail();
    await flush();
    ctx.server.status(503);
    ctx.scheduler.runNext();
    await flush();
    ctx.server.status(503);
    ctx.scheduler.runNext();
    await flush();
    expect(answer.error).toBeInstanceOf(AnswerError);
    expect((answer.error as AnswerError).message).toMatch(/could not be resumed after 2 attempts.*HTTP 503/);
    expect((answer.error as AnswerError).status).toBe(503);
    expect((answer.error as AnswerError).answerId).toBe('A1');
    expect(ctx.server.calls).toHaveLength(3);
    expect(ctx.scheduler.pending).toEqual([]);
  });

  it("rejects with the server's reason on an error event", async () => {
    const ctx = setup();
    const stream = ctx.server.stream();
    const answer = outcome(ctx.client.streamAnswer({ q: 1 }, ctx.callbacks));
    await flush();
    stream.write(ANSWER + chunk(2, 'part') + 'id: 3-e1\nevent: error\ndata: {"answerId":"A1","reason":"backend-unreachable"}\n\n');
    await flush();
    expect(answer.error).toBeInstanceOf(AnswerError);
    const error = answer.error as AnswerError;
    expect(error.name).toBe('AnswerError');
    expect(error.reason).toBe('backend-unreachable');
    expect(error.answerId).toBe('A1');
    expect(error.message).toContain('backend-unreachable');
    expect(ctx.chunks.map((c) => c.data)).toEqual(['part']);
    expect(ctx.server.calls).toHaveLength(1);
  });

  it('rejects with an AbortError on abort, and asks nothing more', async () => {
    const ctx = setup();
    const stream = ctx.server.stream();
    const controller = new AbortController();
    const answer = outcome(ctx.client.streamAnswer({ q: 1 }, { ...ctx.callbacks, signal: controller.signal }));
    await flush();
    stream.write(ANSWER + chunk(2, 'a'));
    await flush();
    controller.abort();
    await flush();
    expect((answer.error as Error).name).toBe('AbortError');
    expect((ctx.server.calls[0]!.init.signal as AbortSignal).aborted).toBe(true);
    expect(stream.cancelled).toBe(true);
    stream.write(chunk(3, 'late'));
    await flush();
    expect(ctx.chunks.map((c) => c.data)).toEqual(['a']);
    expect(ctx.scheduler.pending).toEqual([]);
    expect(ctx.server.calls).toHaveLength(1);
  });

  it('an abort while waiting to resume cancels the resume', async () => {
    const ctx = setup();
    const stream = ctx.server.stream();
    const controller = new AbortController();
    const answer = outcome(ctx.client.streamAnswer({ q: 1 }, { ...ctx.callbacks, signal: controller.signal }));
    await flush();
    stream.write(ANSWER);
    stream.fail();
    await flush();
    expect(ctx.scheduler.pending).toHaveLength(1);
    controller.abort();
    await flush();
    expect((answer.error as Error).name).toBe('AbortError');
    expect(ctx.scheduler.pending).toEqual([]);
    ctx.scheduler.advance(60_000);
    await flush();
    expect(ctx.server.calls).toHaveLength(1);
  });

  it('makes no request at all when the signal is already aborted', async () => {
    const ctx = setup();
    const answer = outcome(ctx.client.streamAnswer({ q: 1 }, { signal: AbortSignal.abort() }));
    await flush();
    expect((answer.error as Error).name).toBe('AbortError');
    expect(ctx.server.calls).toHaveLength(0);
  });

  it('rejects a refused question with the problem+json detail, and never repeats the POST', async () => {
    const ctx = setup();
    ctx.server.streamReplies.push(problem(429, 'at most 5 answers may be open per user (SseCluster:Answers:MaxOpenAnswersPerUser)'));
    const answer = outcome(ctx.client.streamAnswer({ q: 1 }, ctx.callbacks));
    await flush();
    const error = answer.error as AnswerError;
    expect(error).toBeInstanceOf(AnswerError);
    expect(error.status).toBe(429);
    expect(error.problem?.detail).toMatch(/MaxOpenAnswersPerUser/);
    expect(error.message).toMatch(/HTTP 429.*MaxOpenAnswersPerUser/);

    // 503 (no answer backend) is not retried either: a second POST would be a second question.
    ctx.server.streamReplies.push(problem(503, 'streamed answers are off: SseCluster:Answers:BackendUrl is not set'));
    const off = outcome(ctx.client.streamAnswer({ q: 2 }));
    await flush();
    expect((off.error as AnswerError).status).toBe(503);
    expect((off.error as AnswerError).problem?.detail).toMatch(/BackendUrl/);
    expect(ctx.scheduler.pending).toEqual([]);
    expect(ctx.server.calls).toHaveLength(2);
  });

  it('rejects when a resume is refused with 404 (the answer is gone)', async () => {
    const ctx = setup();
    const stream = ctx.server.stream();
    const answer = outcome(ctx.client.streamAnswer({ q: 1 }, ctx.callbacks));
    await flush();
    stream.write(ANSWER + chunk(2, 'a'));
    stream.fail();
    await flush();
    ctx.server.streamReplies.push(problem(404, "there is no answer 'A1' for these credentials"));
    ctx.scheduler.runNext();
    await flush();
    const error = answer.error as AnswerError;
    expect(error.status).toBe(404);
    expect(error.answerId).toBe('A1');
    expect(error.message).toMatch(/no answer 'A1'/);
    expect(ctx.server.calls).toHaveLength(2);
  });

  it('rejects, without asking again, when the stream breaks before the answer is named', async () => {
    const ctx = setup();
    const stream = ctx.server.stream();
    const answer = outcome(ctx.client.streamAnswer({ q: 1 }));
    await flush();
    stream.fail();
    await flush();
    expect(answer.error).toBeInstanceOf(AnswerError);
    expect((answer.error as AnswerError).message).toMatch(/before the gateway named the answer/);
    expect(ctx.server.calls).toHaveLength(1);
  });

  it('works without a client of its own, from the page origin', async () => {
    const server = new FakeFetch();
    const stream = server.stream();
    const got: string[] = [];
    const answer = outcome(streamAnswer({ q: 1 }, { url: '', fetch: server.fetch, onChunk: (c) => got.push(String(c.data)) }));
    await flush();
    expect(server.calls[0]!.url).toBe('/sse/answers');
    expect(server.calls[0]!.headers['authorization']).toBeUndefined();
    stream.write(ANSWER + chunk(2, 'x') + DONE(3));
    await flush();
    expect(answer.value?.text).toBe('x');
    expect(got).toEqual(['x']);
  });

  it('rejects a 200 that is not an event stream', async () => {
    const ctx = setup();
    ctx.server.streamReplies.push(json(200, { not: 'a stream' }));
    const answer = outcome(ctx.client.streamAnswer({ q: 1 }));
    await flush();
    expect(answer.error).toBeInstanceOf(AnswerError);
    expect((answer.error as AnswerError).message).toMatch(/not text\/event-stream/);
  });
});
