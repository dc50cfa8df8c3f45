export { SseClient, decodeData, streamAnswer } from './client.js';
export { AnswerError, ANSWERS_PATH, DEFAULT_MAX_RESUME_ATTEMPTS } from './answers.js';
export type { Answer, AnswerChunk, AnswerState, StreamAnswerOptions } from './answers.js';
export type { SseClientEvents, SseClientSnapshot } from './client.js';
export { SseParser } from './parser.js';
export type { ParsedEvent, SseParserCallbacks } from './parser.js';
export { Backoff, DEFAULT_BASE_RETRY_MS, DEFAULT_MAX_RETRY_MS } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export { RecentIds } from './recent-ids.js';
export { HeartbeatWatchdog, WATCHDOG_FACTOR } from './watchdog.js';
export type { Scheduler } from './timers.js';
export { resolveGatewayUrls } from './urls.js';
export type { GatewayUrls } from './urls.js';
export { SseClientError } from './types.js';
export type {
  CloseData,
  ConnectionState,
  EventSourceConstructor,
  EventSourceLike,
  FetchLike,
  ProblemDetails,
  ResetData,
  SseClientOptions,
  SseEvent,
  SseEventHandler,
  TransportKind,
  VisibilitySource,
  WelcomeData,
} from './types.js';
