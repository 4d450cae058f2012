import './screen/screen.css';
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import type { Credentials } from './api';
import { ScreenClipboard } from './screen/screen-clipboard';
import { CredentialsForm } from './screen/credentials-form';
import { VncConnection, type ScreenState } from './screen/vnc-connection';
import type { Vm } from './types';
import { ConnectGate } from './vm-connect';

/**
 * The Screen tab: the VM's display with noVNC through the port-forward WebSocket to its port 5900 (issue 16), scaled
 * to the page, with a view-only switch, Ctrl+Alt+Del and the clipboard.
 */
export function VmScreen({ vm }: { vm: Vm }) {
  const generation = useSignal(0);
  // After the VNC server refused credentials, the next attempt asks the user instead of sending the VM's again.
  const askCredentials = useSignal(false);
  return (
    <ConnectGate vm={vm} action="see the screen" thing="screen">
      {(creds) => (
        <ScreenView
          key={`${vm.uid}:${generation.value}`}
          vm={vm}
          creds={creds}
          useVmCredentials={!askCredentials.value}
          onReconnect={(authFailed) => {
            askCredentials.value ||= authFailed;
            generation.value++;
          }}
        />
      )}
    </ConnectGate>
  );
}

interface ScreenViewProps {
  vm: Vm;
  creds: Credentials;
  useVmCredentials: boolean;
  onReconnect: (authFailed: boolean) => void;
}

function ScreenView({ vm, creds, useVmCredentials, onReconnect }: ScreenViewProps) {
  const host = useRef<HTMLDivElement>(null);
  const connection = useRef<VncConnection | undefined>(undefined);
  const state = useSignal<ScreenState>({ kind: 'connecting' });
  const viewOnly = useSignal(false);
  const vmClipboard = useSignal('');
  // The VM's credentials as they were when the screen opened (the watch replaces `vm` on every change).
  const vmCredentials = useRef(
    useVmCredentials && vm.username && vm.password ? { username: vm.username, password: vm.password } : undefined,
  );

  useEffect(() => {
    const vnc = new VncConnection({
      creds,
      vm: vm.name,
      target: host.current!,
      vmCredentials: vmCredentials.current,
      viewOnly: viewOnly.peek(),
      onState: (next) => (state.value = next),
      onClipboard: (text) => (vmClipboard.value = text),
    });
    connection.current = vnc;
    return () => {
      vnc.dispose();
      connection.current = undefined;
    };
  }, [vm.name, creds]);

  const current = state.value;
  const connected = current.kind === 'connected';
  return (
    <div class="vm-screen">
      <div class="toolbar screen-toolbar">
        <StateLine state={current} />
        <span class="grow" />
        <label class="check">
          <input
            type="checkbox"
            checked={viewOnly.value}
            onChange={(event) => {
              viewOnly.value = event.currentTarget.checked;
              if (connection.current) {
                connection.current.viewOnly = viewOnly.value;
              }
            }}
          />
          View only
        </label>
        <button
          type="button"
          class="btn btn-small"
          disabled={!connected || viewOnly.value}
          title="Send Ctrl+Alt+Del to the VM"
          onClick={() => connection.current?.sendCtrlAltDel()}
        >
          Ctrl+Alt+Del
        </button>
        {current.kind === 'disconnected' && (
          <button type="button" class="btn btn-small btn-primary" onClick={() => onReconnect(current.authFailed)}>
            Reconnect
          </button>
        )}
      </div>
      {current.kind === 'credentials' && (
        <CredentialsForm
          types={current.types}
          username={vm.username}
          onSubmit={(given) => connection.current?.sendCredentials(given)}
        />
      )}
      <div class="screen-host" ref={host} data-state={current.kind} />
      <ScreenClipboard
        fromVm={vmClipboard.value}
        disabled={!connected || viewOnly.value}
        onSend={(text) => connection.current?.sendClipboard(text)}
      />
    </div>
  );
}

function StateLine({ state }: { state: ScreenState }) {
  let text: string;
  switch (state.kind) {
    case 'connecting':
      text = 'Connecting…';
      break;
    case 'credentials':
      text = 'The VNC server asks for credentials.';
      break;
    case 'connected':
      text = state.desktop ? `Connected to ${state.desktop}` : 'Connected';
      break;
    case 'disconnected':
      text = `Disconnected. ${state.reason}`;
      break;
  }
  return (
    <span class={`screen-state screen-state-${state.kind}`} role="status" aria-live="polite">
      {text}
    </span>
  );
}
