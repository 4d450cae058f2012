/** The controller's REST API from the browser: same origin, HTTP Basic with the signed-in service account. */

export interface Credentials {
  name: string;
  token: string;
}

/** A request the API refused (`status` ≥ 400) or that never reached it (`status` 0); `message` is the API's own. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Base64 of UTF-8 text (btoa alone takes Latin-1 only). */
function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) {
    binary += String.fromCharCode(byte);
  }
  return btoa(binary);
}

export function basicAuth(creds: Credentials): string {
  return `Basic ${base64(`${creds.name}:${creds.token}`)}`;
}

/** The API's error text from a response body (`{message}`), else the HTTP status line. */
function errorMessage(status: number, statusText: string, body: unknown): string {
  if (typeof body === 'object' && body !== null && 'message' in body) {
    const message = body.message;
    if (typeof message === 'string' && message !== '') {
      return message;
    }
  }
  return `${status} ${statusText || 'request failed'}`.trim();
}

/** Fetches an API path with the account's credentials; the response must be 2xx (ApiError otherwise). */
export async function apiFetch(creds: Credentials, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('Authorization', basicAuth(creds));
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers, credentials: 'omit', cache: 'no-store' });
  } catch (err) {
    if (init.signal?.aborted) {
      throw err;
    }
    throw new ApiError('the controller is unreachable', 0, undefined);
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    let body: unknown = text;
    try {
      body = text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch {
      // Not JSON (a proxy's error page): keep the text.
    }
    throw new ApiError(errorMessage(res.status, res.statusText, body), res.status, body);
  }
  return res;
}

/** A JSON API call: `body` is sent as JSON; an empty response resolves to undefined. */
export async function api<T>(creds: Credentials, method: HttpMethod, path: string, body?: unknown): Promise<T> {
  const res = await apiFetch(creds, path, {
    method,
    headers:
      body === undefined
        ? { Accept: 'application/json' }
        : { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** The WebSocket URL of an API path on the page's own origin (wss: when the page came over https:). */
export function wsUrl(path: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${path}`;
}

/**
 * WebSocket subprotocols carrying the credentials (browsers cannot set headers on a WebSocket): the endpoint's own
 * protocols first, then `grove.console`, then `grove.basic.<base64url(name:token)>`. The controller selects one that
 * is not the credential one, so the secret is never echoed back (issue 16 contract).
 */
export function wsProtocols(creds: Credentials, ...own: string[]): string[] {
  const encoded = base64(`${creds.name}:${creds.token}`).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return [...own, 'grove.console', `grove.basic.${encoded}`];
}

/** Path segment of a resource name. */
export function seg(name: string): string {
  return encodeURIComponent(name);
}
