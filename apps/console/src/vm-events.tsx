/**
 * A VM's startup-script logs (the `log_line` events, oldest first, followed live) and all its events (newest first,
 * paged). Logs are read as `grove logs vm` reads them; following re-reads from the start of the last page seen (the
 * API's cursors only point at page starts) every few seconds and whenever the VM changes.
 */
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { apiFetch, seg, type Credentials } from './api';
import { describeError } from './errors';
import { formatTime } from './format';
import { credentials } from './session';
import type { Vm, VmEvent } from './types';

const FOLLOW_MS = 3000;
const LOG_PAGE = 500;
const EVENT_PAGE = 50;

interface Page {
  items: VmEvent[];
  next?: string;
}

async function eventsPage(creds: Credentials, vm: string, query: Record<string, string>): Promise<Page> {
  const res = await apiFetch(creds, `/v1/vms/${seg(vm)}/events?${new URLSearchParams(query).toString()}`, {
    headers: { Accept: 'application/json' },
  });
  const items = (await res.json()) as VmEvent[];
  return { items, next: res.headers.get('X-Next-Cursor') ?? undefined };
}

export function VmLogs({ vm }: { vm: Vm }) {
  const lines = useSignal<string[]>([]);
  const follow = useSignal(true);
  const error = useSignal('');
  const loaded = useSignal(false);
  const box = useRef<HTMLPreElement>(null);
  // Where reading resumes: the cursor of the last page's start (undefined = the first page) and how many of its
  // events were already taken.
  const position = useRef<{ cursor?: string; seen: number }>({ seen: 0 });
  const reading = useRef<Promise<void> | undefined>(undefined);
  const creds = credentials.value;

  const readMore = (): Promise<void> => {
    if (!creds) {
      return Promise.resolve();
    }
    reading.current ??= (async () => {
      try {
        const added: string[] = [];
        for (;;) {
          const query: Record<string, string> = { limit: String(LOG_PAGE), order: 'asc' };
          if (position.current.cursor) {
            query.cursor = position.current.cursor;
          }
          const page = await eventsPage(creds, vm.name, query);
          for (const event of page.items.slice(position.current.seen)) {
            if (event.kind === 'log_line') {
              added.push(event.payload);
            }
          }
          if (page.next) {
            position.current = { cursor: page.next, seen: 0 };
          } else {
            position.current = { cursor: position.current.cursor, seen: page.items.length };
            break;
          }
        }
        if (added.length > 0) {
          const el = box.current;
          const atBottom = !el || el.scrollHeight - el.scrollTop - el.clientHeight < 24;
          lines.value = [...lines.value, ...added];
          if (atBottom) {
            requestAnimationFrame(() => box.current?.scrollTo({ top: box.current.scrollHeight }));
          }
        }
        error.value = '';
      } catch (err) {
        error.value = `Could not read the logs: ${describeError(err)}`;
      } finally {
        loaded.value = true;
        reading.current = undefined;
      }
    })();
    return reading.current;
  };

  useEffect(() => {
    lines.value = [];
    position.current = { seen: 0 };
    loaded.value = false;
    void readMore();
  }, [creds, vm.name, vm.uid]);

  // Live tail: poll while following and the tab is visible; the VM's own changes (status, restarts) read at once.
  useEffect(() => {
    if (!follow.value) {
      return;
    }
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') {
        void readMore();
      }
    }, FOLLOW_MS);
    return () => clearInterval(timer);
  }, [follow.value, creds, vm.name, vm.uid]);
  useEffect(() => {
    if (follow.value) {
      void readMore();
    }
  }, [vm.version]);

  return (
    <section class="card" aria-labelledby="logs-title">
      <div class="section-head">
        <h2 id="logs-title">Startup-script logs</h2>
        <label class="check">
          <input type="checkbox" checked={follow.value} onChange={(e) => (follow.value = e.currentTarget.checked)} />
          Follow
        </label>
      </div>
      {error.value && (
        <p class="form-error" role="alert">
          {error.value}
        </p>
      )}
      {!loaded.value ? (
        <p class="muted">Loading…</p>
      ) : lines.value.length === 0 ? (
        <p class="muted">
          {vm.startup_script ? 'No output yet.' : 'This VM has no startup script.'}
          {follow.value && vm.startup_script ? ' Following…' : ''}
        </p>
      ) : (
        <pre class="log" ref={box} tabIndex={0} aria-label="Startup-script output" aria-live="off">
          {lines.value.join('\n')}
        </pre>
      )}
    </section>
  );
}

export function VmEvents({ vm }: { vm: Vm }) {
  const events = useSignal<VmEvent[]>([]);
  const next = useSignal<string | undefined>(undefined);
  const error = useSignal('');
  const busy = useSignal(false);
  const creds = credentials.value;

  const load = async (cursor?: string) => {
    if (!creds) {
      return;
    }
    busy.value = true;
    try {
      const query: Record<string, string> = { limit: String(EVENT_PAGE), order: 'desc' };
      if (cursor) {
        query.cursor = cursor;
      }
      const page = await eventsPage(creds, vm.name, query);
      events.value = cursor ? [...events.value, ...page.items] : page.items;
      next.value = page.next;
      error.value = '';
    } catch (err) {
      error.value = `Could not read the events: ${describeError(err)}`;
    } finally {
      busy.value = false;
    }
  };

  // The newest page again whenever the VM changes: its state changes are what make events.
  useEffect(() => {
    void load();
  }, [creds, vm.name, vm.uid, vm.version]);

  return (
    <section class="card" aria-labelledby="events-title">
      <div class="section-head">
        <h2 id="events-title">Events</h2>
        <button type="button" class="btn btn-small" disabled={busy.value} onClick={() => void load()}>
          Refresh
        </button>
      </div>
      {error.value && (
        <p class="form-error" role="alert">
          {error.value}
        </p>
      )}
      {events.value.length === 0 ? (
        <p class="muted">{busy.value ? 'Loading…' : 'No events.'}</p>
      ) : (
        <ul class="events">
          {events.value.map((e, i) => (
            <li key={i}>
              <time>{formatTime(e.timestamp)}</time>
              <span class="badge">{e.kind}</span>
              <span class="payload">{e.payload}</span>
            </li>
          ))}
        </ul>
      )}
      {next.value && (
        <p>
          <button type="button" class="btn btn-small" disabled={busy.value} onClick={() => void load(next.value)}>
            Older events
          </button>
        </p>
      )}
    </section>
  );
}
