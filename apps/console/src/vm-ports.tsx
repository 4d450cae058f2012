import './screen/ports.css';
import { useSignal } from '@preact/signals';
import { api, seg } from './api';
import { describeError } from './errors';
import { vmHref } from './router';
import { credentials } from './session';
import type { Vm } from './types';
import { canConnect } from './vm-connect';
import { vmIsUp, vmNotRunning } from './terminal/reachability';

/** A port of the VM the tab lists. */
interface KnownPort {
  port: number;
  label: string;
  /** Whether a browser preview makes sense (an HTTP service may listen there). */
  http: boolean;
  /** The CLI command that reaches it, when it has a better one than `port-forward`. */
  command?: string;
  /** A tab of the console that shows it. */
  tab?: 'screen';
}

/** `POST /v1/vms/{name}/previews` answers with the preview's path on this origin and its expiry. */
interface Preview {
  url: string;
  expiresAt: string;
}

function knownPorts(vm: Vm): KnownPort[] {
  const ports: KnownPort[] = [
    { port: 22, label: 'SSH', http: false, command: `grove ssh vm ${vm.name}` },
    { port: 5900, label: 'VNC (the screen)', http: false, command: `grove vnc vm ${vm.name}`, tab: 'screen' },
  ];
  for (const endpoint of vm.endpoints ?? []) {
    const port = endpoint.target.vm.port;
    const observed = vm.observedEndpoints?.find((o) => o.name === endpoint.name);
    const workerPort = observed?.workerPort !== undefined ? `, worker port ${observed.workerPort}` : '';
    ports.push({
      port,
      label: `Endpoint ${endpoint.name} (${endpoint.protocol}${workerPort})`,
      http: endpoint.protocol === 'tcp',
    });
  }
  return ports;
}

/** A TCP port as typed: 1–65535, digits only; otherwise the error to show. */
export function parsePortField(text: string): { port: number } | { error: string } {
  const trimmed = text.trim();
  if (!/^\d{1,5}$/.test(trimmed) || Number(trimmed) < 1 || Number(trimmed) > 65535) {
    return { error: 'port must be an integer from 1 to 65535' };
  }
  return { port: Number(trimmed) };
}

/**
 * The Ports tab: the VM's known ports and any port typed in. An HTTP port opens as a preview in a new tab (a URL of
 * the controller that proxies to the port through the VM's worker); any port can be forwarded locally with the CLI.
 */
export function VmPorts({ vm }: { vm: Vm }) {
  const typed = useSignal('');
  const typedError = useSignal('');
  const chosen = useSignal<number | undefined>(undefined);
  const ports = knownPorts(vm);
  const extra = chosen.value;
  if (extra !== undefined && !ports.some((p) => p.port === extra)) {
    ports.push({ port: extra, label: 'Typed in', http: true });
  }
  return (
    <div class="vm-ports">
      {!vmIsUp(vm) && (
        <p class="banner banner-info" role="status">
          {vmNotRunning(vm)} Its ports answer once it runs.
        </p>
      )}
      <form
        class="toolbar ports-form"
        onSubmit={(event) => {
          event.preventDefault();
          const parsed = parsePortField(typed.value);
          if ('error' in parsed) {
            typedError.value = parsed.error;
            return;
          }
          typedError.value = '';
          chosen.value = parsed.port;
          typed.value = '';
        }}
      >
        <label>
          Any port of the VM
          <input
            name="port"
            inputMode="numeric"
            placeholder="8080"
            value={typed.value}
            aria-invalid={typedError.value !== ''}
            aria-describedby="port-error"
            onInput={(event) => (typed.value = event.currentTarget.value)}
          />
        </label>
        <button type="submit" class="btn">
          Add
        </button>
        <span id="port-error" role="alert">
          {typedError.value && <span class="form-error">{typedError.value}</span>}
        </span>
      </form>
      <div class="table-wrap">
        <table class="ports-table">
          <thead>
            <tr>
              <th scope="col">Port</th>
              <th scope="col">What</th>
              <th scope="col">Open</th>
              <th scope="col">From your machine</th>
            </tr>
          </thead>
          <tbody>
            {ports.map((p) => (
              <PortRow key={p.port} vm={vm} known={p} />
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function PortRow({ vm, known }: { vm: Vm; known: KnownPort }) {
  const busy = useSignal(false);
  const preview = useSignal<Preview | undefined>(undefined);
  const error = useSignal('');
  const forward = `grove port-forward vm ${vm.name} ${known.port}`;

  const open = async () => {
    const creds = credentials.value;
    if (!creds) {
      return;
    }
    // The tab is opened during the click (a tab opened after an await is a popup browsers block), then navigated.
    const tab = window.open('', '_blank');
    // A tab this page opens starts with a copy of its sessionStorage, the signed-in token included: the preview (and
    // whoever the tab is left to) must not hold it.
    forgetSession(tab);
    busy.value = true;
    error.value = '';
    try {
      const created = await api<Preview>(creds, 'POST', `/v1/vms/${seg(vm.name)}/previews`, { port: known.port });
      preview.value = created;
      if (tab) {
        tab.opener = null;
        tab.location.href = new URL(created.url, location.href).href;
      }
    } catch (err) {
      tab?.close();
      error.value = describeError(err);
    } finally {
      busy.value = false;
    }
  };

  return (
    <tr>
      <td class="mono">{known.port}</td>
      <td>{known.label}</td>
      <td>
        {known.tab && <a href={vmHref(vm.name, known.tab)}>Screen tab</a>}
        {known.http && canConnect() && (
          <button type="button" class="btn btn-small" disabled={busy.value} onClick={() => void open()}>
            {busy.value ? 'Opening…' : 'Preview'}
          </button>
        )}
        {preview.value && (
          <p class="preview-link">
            <a
              href={preview.value.url}
              target="_blank"
              rel="noopener"
              title={new URL(preview.value.url, location.href).href}
            >
              Preview link
            </a>{' '}
            <span class="muted">(valid until {new Date(preview.value.expiresAt).toLocaleTimeString()})</span>
          </p>
        )}
        {error.value && (
          <p class="form-error" role="alert">
            {error.value}
          </p>
        )}
      </td>
      <td>
        <CopyCommand text={known.command ?? forward} />
        {known.command && <CopyCommand text={forward} />}
      </td>
    </tr>
  );
}

/** Empties the sessionStorage a tab opened by this page inherited (it is still on this origin's about:blank). */
function forgetSession(tab: Window | null): void {
  try {
    tab?.sessionStorage.clear();
  } catch {
    // No storage there (disabled, or the browser gave the tab another origin): nothing was copied.
  }
}

function CopyCommand({ text }: { text: string }) {
  const copied = useSignal(false);
  return (
    <div class="copy-command">
      <code>{text}</code>
      {typeof navigator.clipboard?.writeText === 'function' && (
        <button
          type="button"
          class="btn btn-small copy-button"
          aria-label={`Copy ${text}`}
          onClick={() =>
            void navigator.clipboard.writeText(text).then(
              () => {
                copied.value = true;
                setTimeout(() => (copied.value = false), 1500);
              },
              () => undefined,
            )
          }
        >
          {copied.value ? 'Copied' : 'Copy'}
        </button>
      )}
    </div>
  );
}
