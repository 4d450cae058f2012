import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { api, ApiError, basicAuth, wsProtocols } from './api';

const creds = { name: 'ci-bot', token: 'tök:en/+=' };

function stubFetch(respond: (url: string, init: RequestInit) => Response | Promise<Response>) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetch = jest.fn((url: string, init: RequestInit) => {
    calls.push({ url, init });
    return Promise.resolve(respond(url, init));
  });
  globalThis.fetch = fetch as unknown as typeof globalThis.fetch;
  return calls;
}

function decodeBase64Url(text: string): string {
  return Buffer.from(text, 'base64url').toString('utf8');
}

describe('the API client', () => {
  const realFetch = globalThis.fetch;
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  it('sends HTTP Basic with the UTF-8 name and token, and JSON both ways', async () => {
    const calls = stubFetch(() => Response.json({ name: 'v1' }));
    await expect(api(creds, 'POST', '/v1/vms', { name: 'v1' })).resolves.toEqual({ name: 'v1' });
    const headers = new Headers(calls[0].init.headers);
    expect(calls[0].url).toBe('/v1/vms');
    expect(calls[0].init.method).toBe('POST');
    expect(headers.get('authorization')).toBe(basicAuth(creds));
    expect(Buffer.from(basicAuth(creds).slice('Basic '.length), 'base64').toString('utf8')).toBe('ci-bot:tök:en/+=');
    expect(headers.get('content-type')).toBe('application/json');
    expect(calls[0].init.body).toBe('{"name":"v1"}');
  });

  it('resolves an empty answer (204, DELETE) to undefined', async () => {
    stubFetch(() => new Response(null, { status: 200 }));
    await expect(api(creds, 'DELETE', '/v1/vms/v1')).resolves.toBeUndefined();
  });

  it("throws the API's own message with the status and body", async () => {
    const body = { message: 'invalid input: name must not be empty', errors: [{ field: 'name', message: '…' }] };
    stubFetch(() => Response.json(body, { status: 400 }));
    const err = await api(creds, 'POST', '/v1/vms', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ message: body.message, status: 400, body });
  });

  it("says the status when the body is not the API's (a proxy's page) and status 0 when nothing answered", async () => {
    stubFetch(() => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    await expect(api(creds, 'GET', '/v1/vms')).rejects.toMatchObject({ message: '502 Bad Gateway', status: 502 });

    globalThis.fetch = jest.fn(() => Promise.reject(new TypeError('Failed to fetch')));
    await expect(api(creds, 'GET', '/v1/vms')).rejects.toMatchObject({
      message: 'the controller is unreachable',
      status: 0,
    });
  });

  it("offers WebSocket subprotocols: the endpoint's own, grove.console, then the base64url credentials", () => {
    const protocols = wsProtocols(creds, 'grove.port-forward.half-close');
    expect(protocols.slice(0, 2)).toEqual(['grove.port-forward.half-close', 'grove.console']);
    const secret = protocols[2];
    expect(secret).toMatch(/^grove\.basic\.[A-Za-z0-9_-]+$/);
    expect(decodeBase64Url(secret.slice('grove.basic.'.length))).toBe('ci-bot:tök:en/+=');
    expect(wsProtocols(creds)).toHaveLength(2);
  });
});
