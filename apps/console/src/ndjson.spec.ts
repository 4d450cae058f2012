import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { ApiError } from './api';
import { readNdjson, watchNdjson } from './ndjson';

/** A streamed response whose body arrives in the given chunks. */
function streamed(chunks: string[]): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) {
        controller.enqueue(encoder.encode(chunk));
      }
      controller.close();
    },
  });
  return new Response(body, { headers: { 'content-type': 'application/x-ndjson' } });
}

async function collect<T>(res: Response): Promise<T[]> {
  const out: T[] = [];
  for await (const item of readNdjson<T>(res, new AbortController().signal)) {
    out.push(item);
  }
  return out;
}

describe('the NDJSON reader', () => {
  it('yields each line, whatever the chunks cut, skipping blank lines; a last line needs no newline', async () => {
    const res = streamed(['{"type":"ADD', 'ED","n":1}\n\n{"n"', ':2}\r\n{"n":3', '}']);
    await expect(collect(res)).resolves.toEqual([{ type: 'ADDED', n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('decodes UTF-8 split across chunks', async () => {
    const bytes = new TextEncoder().encode('{"s":"é"}\n');
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 7));
        controller.enqueue(bytes.slice(7));
        controller.close();
      },
    });
    await expect(collect(new Response(body))).resolves.toEqual([{ s: 'é' }]);
  });
});

describe('the watch', () => {
  const realFetch = globalThis.fetch;
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  const creds = { name: 'a', token: 't' };

  it('opens the stream again after it ends or fails, and starts over with onOpen', async () => {
    const answers: (() => Response)[] = [
      () => streamed(['{"n":1}\n']),
      () => {
        throw new TypeError('Failed to fetch');
      },
      () => streamed(['{"n":2}\n']),
    ];
    globalThis.fetch = jest.fn(() => {
      const next = answers.shift();
      return next ? Promise.resolve().then(next) : new Promise<Response>(() => undefined);
    });
    const seen: string[] = [];
    let stop = () => undefined as void;
    await new Promise<void>((resolve) => {
      stop = watchNdjson<{ n: number }>(creds, '/v1/vms?watch=true', {
        onOpen: () => seen.push('open'),
        onMessage: (m) => {
          seen.push(`n=${m.n}`);
          if (m.n === 2) {
            resolve();
          }
        },
        onInterrupted: (err) => seen.push(`interrupted: ${err instanceof ApiError ? err.status : String(err)}`),
      });
    });
    stop();
    expect(seen).toEqual([
      'open',
      'n=1',
      'interrupted: Error: the watch stream ended',
      'interrupted: 0',
      'open',
      'n=2',
    ]);
  });

  it('gives up on a controller that refuses the watch itself (400) and says so once', async () => {
    globalThis.fetch = jest.fn(() =>
      Promise.resolve(
        Response.json({ message: 'invalid input: watch: property watch should not exist' }, { status: 400 }),
      ),
    );
    const err = await new Promise<ApiError>((resolve) => {
      watchNdjson(creds, '/v1/vms?watch=true', {
        onOpen: () => undefined,
        onMessage: () => undefined,
        onInterrupted: () => undefined,
        onUnsupported: resolve,
      });
    });
    expect(err.status).toBe(400);
    expect(globalThis.fetch).toHaveBeenCalledTimes(1);
  });

  it('keeps retrying through a long outage without piling up listeners on its signal', async () => {
    jest.useFakeTimers();
    try {
      const signals: AbortSignal[] = [];
      globalThis.fetch = jest.fn((_url: RequestInfo | URL, init?: RequestInit) => {
        signals.push(init!.signal!);
        return Promise.reject(new TypeError('Failed to fetch'));
      });
      let interruptions = 0;
      const stop = watchNdjson(creds, '/v1/vms?watch=true', {
        onOpen: () => undefined,
        onMessage: () => undefined,
        onInterrupted: () => void interruptions++,
      });
      await jest.advanceTimersByTimeAsync(5 * 60_000);
      expect(interruptions).toBeGreaterThan(10);
      // At most the one wait in progress listens for the stop.
      expect(getEventListeners(signals[0], 'abort').length).toBeLessThanOrEqual(1);
      stop();
      await jest.advanceTimersByTimeAsync(60_000);
      const calls = (globalThis.fetch as jest.Mock).mock.calls.length;
      await jest.advanceTimersByTimeAsync(60_000);
      expect((globalThis.fetch as jest.Mock).mock.calls.length).toBe(calls);
    } finally {
      jest.useRealTimers();
    }
  });
});
