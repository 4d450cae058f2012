/** Streaming NDJSON over fetch, and a watch that reconnects with backoff when its stream ends or fails. */
import { ApiError, apiFetch, type Credentials } from './api';

/** Yields each JSON line of a response body as it arrives. */
export async function* readNdjson<T>(res: Response, signal: AbortSignal): AsyncGenerator<T> {
  if (!res.body) {
    return;
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const onAbort = () => void reader.cancel().catch(() => undefined);
  signal.addEventListener('abort', onAbort);
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        break;
      }
      buffer += value;
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line !== '') {
          yield JSON.parse(line) as T;
        }
        newline = buffer.indexOf('\n');
      }
    }
    if (buffer.trim() !== '') {
      yield JSON.parse(buffer) as T;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    reader.releaseLock();
  }
}

export interface WatchCallbacks<T> {
  /** The stream is open (again): the messages that follow start with the current state. */
  onOpen(): void;
  onMessage(message: T): void;
  /** The stream failed or ended; it is retried after `retryInMs`. */
  onInterrupted(err: unknown, retryInMs: number): void;
  /**
   * The controller refused the watch for good (a 4xx other than 401/403/429 on the first try: e.g. it does not offer
   * this watch). No retry follows.
   */
  onUnsupported?(err: ApiError): void;
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 15_000;

/**
 * Follows an NDJSON watch endpoint until stopped: a stream that ends or fails is opened again after a backoff that
 * doubles up to 15 s (with jitter) and starts over once a stream delivered something. Returns the stop function.
 */
export function watchNdjson<T>(creds: Credentials, path: string, callbacks: WatchCallbacks<T>): () => void {
  const controller = new AbortController();
  const { signal } = controller;
  let backoff = MIN_BACKOFF_MS;
  let everOpened = false;

  const run = async () => {
    while (!signal.aborted) {
      try {
        const res = await apiFetch(creds, path, { signal, headers: { Accept: 'application/x-ndjson' } });
        everOpened = true;
        callbacks.onOpen();
        for await (const message of readNdjson<T>(res, signal)) {
          backoff = MIN_BACKOFF_MS;
          callbacks.onMessage(message);
        }
        if (signal.aborted) {
          return;
        }
        throw new Error('the watch stream ended');
      } catch (err) {
        if (signal.aborted) {
          return;
        }
        if (
          !everOpened &&
          err instanceof ApiError &&
          err.status >= 400 &&
          err.status < 500 &&
          ![401, 403, 408, 429].includes(err.status) &&
          callbacks.onUnsupported
        ) {
          callbacks.onUnsupported(err);
          return;
        }
        const delay = Math.round(backoff * (0.8 + Math.random() * 0.4));
        callbacks.onInterrupted(err, delay);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        await new Promise<void>((resolve) => {
          // The listener goes with its wait: a long outage must not pile one up per retry on the watch's signal.
          const onAbort = () => {
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(() => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          }, delay);
          signal.addEventListener('abort', onAbort, { once: true });
        });
      }
    }
  };
  void run();
  return () => controller.abort();
}
