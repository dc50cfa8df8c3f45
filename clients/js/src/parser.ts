/**
 * An incremental parser for the `text/event-stream` format, following the WHATWG
 * HTML specification ("Server-sent events", § 9.2.6 "Interpreting an event stream").
 *
 * Feed it decoded text in chunks of any size: lines may end in CR, LF or CRLF, and a
 * line (or a CRLF pair) may be split across chunks. It reports dispatched events,
 * `retry:` values, comments and changes of the last event id.
 */

/** An event as dispatched by the stream (before the client decodes `data`). */
export interface ParsedEvent {
  /** The `event:` field, or `"message"` when the event had none. */
  type: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last event id in force when the event was dispatched (`""` when none). */
  id: string;
  /** Whether this event carried its own `id:` field (as opposed to inheriting one). */
  hasOwnId: boolean;
}

export interface SseParserCallbacks {
  /** A complete event (blank line seen, data buffer not empty). */
  onEvent?: (event: ParsedEvent) => void;
  /** A valid `retry:` field (all ASCII digits), in milliseconds. */
  onRetry?: (milliseconds: number) => void;
  /** A comment line (starting with `:`), without the colon. */
  onComment?: (text: string) => void;
  /** The last event id changed at a dispatch point (including a reset to `""`). */
  onLastEventId?: (id: string) => void;
}

const LF = 10;
const CR = 13;

export class SseParser {
  private buffer = '';
  private sawCarriageReturn = false;
  private bomChecked = false;
  private data = '';
  private hasData = false;
  private eventType = '';
  private idBuffer: string;
  private idSetInEvent = false;
  private lastEventIdValue: string;

  /**
   * @param callbacks what to call as the stream is interpreted
   * @param initialLastEventId the last event id already known (e.g. when resuming)
   */
  constructor(private readonly callbacks: SseParserCallbacks = {}, initialLastEventId = '') {
    this.idBuffer = initialLastEventId;
    this.lastEventIdValue = initialLastEventId;
  }

  /** The stream's last event id string as of the last dispatch point. */
  get lastEventId(): string {
    return this.lastEventIdValue;
  }

  /** Interprets the next piece of decoded text. */
  feed(chunk: string): void {
    if (chunk.length === 0) return;
    if (!this.bomChecked) {
      this.bomChecked = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
      if (chunk.length === 0) return;
    }
    // A CR at the end of the previous chunk already ended its line; an LF right after
    // it is the second half of that CRLF, not an empty line.
    let start = 0;
    if (this.sawCarriageReturn) {
      this.sawCarriageReturn = false;
      if (chunk.charCodeAt(0) === LF) start = 1;
    }
    let text = start === 0 ? chunk : chunk.slice(start);
    if (this.buffer.length > 0) {
      text = this.buffer + text;
      this.buffer = '';
    }
    let lineStart = 0;
    const length = text.length;
    for (let i = 0; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code !== LF && code !== CR) continue;
      this.processLine(text.slice(lineStart, i));
      if (code === CR) {
        if (i + 1 < length) {
          if (text.charCodeAt(i + 1) === LF) i++;
        } else {
          this.sawCarriageReturn = true;
        }
      }
      lineStart = i + 1;
    }
    if (lineStart < length) this.buffer = text.slice(lineStart);
  }

  /**
   * Ends the stream. Per the specification an incomplete event (no blank line after it)
   * is discarded; the partial line is dropped too.
   */
  end(): void {
    this.buffer = '';
    this.sawCarriageReturn = false;
    this.resetEvent();
  }

  /** Clears everything but the last event id, for a new connection. */
  reset(lastEventId = this.lastEventIdValue): void {
    this.end();
    this.bomChecked = false;
    this.idBuffer = lastEventId;
    this.lastEventIdValue = lastEventId;
  }

  private processLine(line: string): void {
    if (line.length === 0) {
      this.dispatch();
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) {
      this.callbacks.onComment?.(line.slice(1));
      return;
    }
    let field: string;
    let value: string;
    if (colon > 0) {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 32 ? line.slice(colon + 2) : line.slice(colon + 1);
    } else {
      field = line;
      value = '';
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        if (this.hasData) this.data += '\n' + value;
        else {
          this.data = value;
          this.hasData = true;
        }
        break;
      case 'id':
        if (value.indexOf('\u0000') === -1) {
          this.idBuffer = value;
          this.idSetInEvent = true;
        }
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.callbacks.onRetry?.(parseInt(value, 10));
        break;
      default:
        // Unknown fields are ignored.
        break;
    }
  }

  private dispatch(): void {
    if (this.lastEventIdValue !== this.idBuffer) {
      this.lastEventIdValue = this.idBuffer;
      this.callbacks.onLastEventId?.(this.lastEventIdValue);
    }
    if (!this.hasData) {
      this.resetEvent();
      return;
    }
    const event: ParsedEvent = {
      type: this.eventType === '' ? 'message' : this.eventType,
      data: this.data,
      id: this.lastEventIdValue,
      hasOwnId: this.idSetInEvent,
    };
    this.resetEvent();
    this.callbacks.onEvent?.(event);
  }

  private resetEvent(): void {
    this.data = '';
    this.hasData = false;
    this.eventType = '';
    this.idSetInEvent = false;
  }
}
