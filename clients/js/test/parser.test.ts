import { describe, expect, it } from 'vitest';
import { SseParser } from '../src/parser.js';
import type { ParsedEvent } from '../src/parser.js';

interface Recorded {
  events: ParsedEvent[];
  retries: number[];
  comments: string[];
  ids: string[];
  parser: SseParser;
}

function record(initialId = ''): Recorded {
  const recorded: Omit<Recorded, 'parser'> = { events: [], retries: [], comments: [], ids: [] };
  const parser = new SseParser(
    {
      onEvent: (e) => recorded.events.push(e),
      onRetry: (ms) => recorded.retries.push(ms),
      onComment: (c) => recorded.comments.push(c),
      onLastEventId: (id) => recorded.ids.push(id),
    },
    initialId,
  );
  return { ...recorded, parser };
}

function parse(...chunks: string[]): Recorded {
  const r = record();
  for (const chunk of chunks) r.parser.feed(chunk);
  return r;
}

const ev = (type: string, data: string, id = '', hasOwnId = false): ParsedEvent => ({ type, data, id, hasOwnId });

describe('SseParser line endings', () => {
  it('parses LF-terminated events with type, id and data', () => {
    const r = parse('event: order.updated\nid: 1.0\ndata: {"a":1}\n\n');
    expect(r.events).toEqual([ev('order.updated', '{"a":1}', '1.0', true)]);
  });

  it('parses CR-only line endings', () => {
    const r = parse('event: x\rdata: a\rdata: b\r\rdata: c\r\r');
    expect(r.events).toEqual([ev('x', 'a\nb'), ev('message', 'c')]);
  });

  it('parses CRLF line endings', () => {
    const r = parse('id: 7\r\ndata: hello\r\n\r\ndata: world\r\n\r\n');
    expect(r.events).toEqual([ev('message', 'hello', '7', true), ev('message', 'world', '7', false)]);
  });

  it('parses CR, LF and CRLF mixed in one stream', () => {
    const r = parse('data: 1\rdata: 2\ndata: 3\r\n\ndata: 4\r\r\ndata: 5\n\r');
    // "\r\r\n": CR ends "data: 4", then CRLF is the blank line.
    expect(r.events).toEqual([ev('message', '1\n2\n3'), ev('message', '4'), ev('message', '5')]);
  });

  it('handles a chunk split mid-line', () => {
    const r = parse('da', 'ta: hel', 'lo', '\n', '\n');
    expect(r.events).toEqual([ev('message', 'hello')]);
  });

  it('handles a CRLF split across chunks without seeing an extra blank line', () => {
    const r = parse('data: a\r', '\ndata: b\r', '\n\r', '\n');
    expect(r.events).toEqual([ev('message', 'a\nb')]);
  });

  it('treats CR at the end of a chunk followed by CR as a blank line', () => {
    const r = parse('data: a\r', '\r');
    expect(r.events).toEqual([ev('message', 'a')]);
  });

  it('treats a lone LF after a CR-ended chunk only once as the CRLF tail', () => {
    const r = parse('data: a\r', '\n', '\n');
    expect(r.events).toEqual([ev('message', 'a')]);
  });

  it('gives the same events whatever the chunking', () => {
    const stream =
      '\uFEFF: hi\r\nretry: 2500\nevent: welcome\rid: 0.0\r\ndata: {"connectionId":"c"}\n\n' +
      'data: line1\r\ndata:line2\rdata:  spaced\n\r\n' +
      'id\nevent: e\ndata\ndata: x\r\r' +
      'id: a\u0000b\ndata: nul\n\n' +
      ': heartbeat\r\n' +
      'id: 9\ndata: last\r\n\r\n';
    const whole = parse(stream);
    expect(whole.events.length).toBe(5);
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let run = 0; run < 200; run++) {
      const chunks: string[] = [];
      let i = 0;
      while (i < stream.length) {
        const size = 1 + Math.floor(random() * 7);
        chunks.push(stream.slice(i, i + size));
        i += size;
      }
      const r = parse(...chunks);
      expect(r.events).toEqual(whole.events);
      expect(r.retries).toEqual(whole.retries);
      expect(r.comments).toEqual(whole.comments);
      expect(r.ids).toEqual(whole.ids);
    }
    // One character at a time, the hardest split of all.
    const single = parse(...stream.split(''));
    expect(single.events).toEqual(whole.events);
  });
});

describe('SseParser BOM', () => {
  it('strips a leading BOM once', () => {
    const r = parse('\uFEFFdata: x\n\n');
    expect(r.events).toEqual([ev('message', 'x')]);
  });

  it('strips a BOM that arrives alone in the first chunk', () => {
    const r = parse('\uFEFF', 'data: x\n\n');
    expect(r.events).toEqual([ev('message', 'x')]);
  });

  it('does not strip a second BOM (it becomes part of the field name, which is then unknown)', () => {
    const r = parse('\uFEFF', '\uFEFFdata: x\n\n');
    expect(r.events).toEqual([]);
  });

  it('keeps a BOM that is not at the start of the stream', () => {
    const r = parse('data: a\uFEFFb\n\n');
    expect(r.events).toEqual([ev('message', 'a\uFEFFb')]);
  });
});

describe('SseParser fields', () => {
  it('accepts retry only when it is all ASCII digits', () => {
    const r = parse(
      'retry: 3000\n' +
        'retry: 30x0\n' +
        'retry: -1\n' +
        'retry: 1.5\n' +
        'retry:\n' +
        'retry:  100\n' + // the value is " 100": a leading space is not a digit
        'retry: 1e3\n' +
        'retry: \u0661\u0662\n' + // Arabic-Indic digits are not ASCII digits
        'retry\n' +
        'retry:0\n',
    );
    expect(r.retries).toEqual([3000, 0]);
    expect(r.events).toEqual([]);
  });

  it('ignores an id containing NUL and keeps the previous id', () => {
    const r = parse('id: 1\ndata: a\n\nid: 2\u00003\ndata: b\n\n');
    expect(r.events).toEqual([ev('message', 'a', '1', true), ev('message', 'b', '1', false)]);
  });

  it('resets the last event id on a lone "id:"', () => {
    const r = parse('id: 5\ndata: a\n\nid:\n\ndata: b\n\n');
    expect(r.ids).toEqual(['5', '']);
    expect(r.events).toEqual([ev('message', 'a', '5', true), ev('message', 'b', '', false)]);
    expect(r.parser.lastEventId).toBe('');
  });

  it('resets the last event id on "id" without a colon', () => {
    const r = record('3');
    r.parser.feed('id\ndata: x\n\n');
    expect(r.events).toEqual([ev('message', 'x', '', true)]);
    expect(r.ids).toEqual(['']);
  });

  it('sets the last event id at the blank line even when no event is dispatched', () => {
    const r = parse('id: 42\n\n');
    expect(r.events).toEqual([]);
    expect(r.ids).toEqual(['42']);
    expect(r.parser.lastEventId).toBe('42');
  });

  it('keeps the id for later events without their own id', () => {
    const r = parse('id: 1\ndata: a\n\ndata: b\n\n');
    expect(r.events).toEqual([ev('message', 'a', '1', true), ev('message', 'b', '1', false)]);
  });

  it('starts from the id it was given when resuming', () => {
    const r = record('r.1');
    r.parser.feed('data: x\n\n');
    expect(r.events).toEqual([ev('message', 'x', 'r.1', false)]);
  });

  it('ignores comment lines but reports them', () => {
    const r = parse(': heartbeat\n:\n:: double\ndata: a\n: inside an event\n\n');
    expect(r.comments).toEqual([' heartbeat', '', ': double', ' inside an event']);
    expect(r.events).toEqual([ev('message', 'a')]);
  });

  it('joins multi-line data with LF and keeps empty data lines', () => {
    const r = parse('data: {\ndata:   "a": 1\ndata\ndata: }\n\n');
    expect(r.events).toEqual([ev('message', '{\n  "a": 1\n\n}')]);
  });

  it('removes only a single leading space after the colon', () => {
    const r = parse('data:no-space\n\ndata:  two spaces\n\ndata:\tTab\n\n');
    expect(r.events.map((e) => e.data)).toEqual(['no-space', ' two spaces', '\tTab']);
  });

  it('treats a field without a colon as a field with an empty value', () => {
    const r = parse('data\n\n');
    expect(r.events).toEqual([ev('message', '')]);
  });

  it('dispatches an event whose data is empty but present', () => {
    const r = parse('data:\n\n');
    expect(r.events).toEqual([ev('message', '')]);
  });

  it('does not dispatch when the data buffer is empty, and forgets the event type', () => {
    const r = parse('event: lonely\n\ndata: x\n\n');
    expect(r.events).toEqual([ev('message', 'x')]);
  });

  it('uses "message" when the event type is empty', () => {
    const r = parse('event:\ndata: x\n\n');
    expect(r.events).toEqual([ev('message', 'x')]);
  });

  it('ignores unknown fields and is case-sensitive', () => {
    const r = parse('foo: bar\nData: nope\nEVENT: nope\ndata: yes\n\n');
    expect(r.events).toEqual([ev('message', 'yes')]);
  });

  it('dispatches only at a blank line and drops an incomplete event at the end', () => {
    const r = parse('data: complete\n\ndata: incomplete\n');
    expect(r.events).toEqual([ev('message', 'complete')]);
    r.parser.end();
    expect(r.events.length).toBe(1);
  });

  it('handles a colon in the value', () => {
    const r = parse('data: a: b: c\n\n');
    expect(r.events).toEqual([ev('message', 'a: b: c')]);
  });
});
