import { describe, expect, it } from 'vitest';
import { resolveGatewayUrls, withQuery } from '../src/urls.js';

describe('resolveGatewayUrls', () => {
  it('treats a base URL as the gateway root', () => {
    expect(resolveGatewayUrls('https://gw.example.com/')).toEqual({
      connectUrl: 'https://gw.example.com/sse/connect',
      connectQuery: '',
      baseUrl: 'https://gw.example.com',
      ticketUrl: 'https://gw.example.com/sse/tickets',
    });
  });

  it('accepts a full connect URL and keeps its query', () => {
    expect(resolveGatewayUrls('https://gw.example.com/rt/sse/connect?x=1')).toEqual({
      connectUrl: 'https://gw.example.com/rt/sse/connect',
      connectQuery: 'x=1',
      baseUrl: 'https://gw.example.com/rt',
      ticketUrl: 'https://gw.example.com/rt/sse/tickets',
    });
  });

  it('accepts a relative or empty base (same origin)', () => {
    expect(resolveGatewayUrls('').connectUrl).toBe('/sse/connect');
    expect(resolveGatewayUrls('/').ticketUrl).toBe('/sse/tickets');
  });

  it('uses a custom path, or the URL itself with path ""', () => {
    expect(resolveGatewayUrls('https://app.test', '/api/answer').connectUrl).toBe('https://app.test/api/answer');
    expect(resolveGatewayUrls('https://app.test/api/answer', '').connectUrl).toBe('https://app.test/api/answer');
  });

  it('uses an explicit ticket URL', () => {
    expect(resolveGatewayUrls('https://gw.test', undefined, '/auth/ticket').ticketUrl).toBe('/auth/ticket');
  });
});

describe('withQuery', () => {
  it('appends encoded parameters and skips empty ones', () => {
    expect(withQuery('/sse/connect', '', { ticket: 'a+b', topics: 'x,y', clientId: undefined, lastEventId: '' })).toBe(
      '/sse/connect?ticket=a%2Bb&topics=x%2Cy',
    );
    expect(withQuery('/sse/connect', 'keep=1', { clientId: 'tab 1' })).toBe('/sse/connect?keep=1&clientId=tab%201');
    expect(withQuery('/sse/connect', '', {})).toBe('/sse/connect');
  });
});
