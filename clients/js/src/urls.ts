/** Turns the `url` option into the connect and ticket URLs. */

export const CONNECT_PATH = '/sse/connect';
export const TICKETS_PATH = '/sse/tickets';

export interface GatewayUrls {
  /** The connect URL, without query string. */
  connectUrl: string;
  /** The query string the caller put on the URL (without `?`), kept as is. */
  connectQuery: string;
  /** The gateway's base URL (no trailing slash; `""` for the page's origin). */
  baseUrl: string;
  /** Where tickets come from. */
  ticketUrl: string;
}

/**
 * `url` may be a base (`https://gw.example.com`, `/`, `""`) or a full connect URL
 * (`https://gw.example.com/sse/connect?topics=a`). With `path` set, `url` is a base and
 * `path` is appended (`path: ""` uses `url` exactly).
 */
export function resolveGatewayUrls(url: string, path?: string, ticketUrl?: string): GatewayUrls {
  const hash = url.indexOf('#');
  const withoutHash = hash >= 0 ? url.slice(0, hash) : url;
  const q = withoutHash.indexOf('?');
  const pathPart = q >= 0 ? withoutHash.slice(0, q) : withoutHash;
  const query = q >= 0 ? withoutHash.slice(q + 1) : '';
  const trimmed = pathPart.replace(/\/+$/, '');

  let baseUrl: string;
  let connectUrl: string;
  if (path === undefined && trimmed.endsWith(CONNECT_PATH)) {
    baseUrl = trimmed.slice(0, -CONNECT_PATH.length);
    connectUrl = trimmed;
  } else if (path === '') {
    baseUrl = trimmed;
    connectUrl = pathPart;
  } else {
    baseUrl = trimmed;
    const suffix = path ?? CONNECT_PATH;
    connectUrl = baseUrl + (suffix.startsWith('/') ? suffix : '/' + suffix);
  }
  return {
    connectUrl,
    connectQuery: query,
    baseUrl,
    ticketUrl: ticketUrl ?? baseUrl + TICKETS_PATH,
  };
}

/** Appends query parameters (skipping empty ones) to a URL that may already have a query. */
export function withQuery(url: string, existingQuery: string, params: Record<string, string | undefined>): string {
  const parts: string[] = [];
  if (existingQuery) parts.push(existingQuery);
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === '') continue;
    parts.push(encodeURIComponent(name) + '=' + encodeURIComponent(value));
  }
  return parts.length > 0 ? url + '?' + parts.join('&') : url;
}
