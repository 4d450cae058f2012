/** Row and page actions on one VM: change its power state, delete it; each asks for a confirmation first. */
import { useSignal } from '@preact/signals';
import { useLayoutEffect, useRef } from 'preact/hooks';
import { api, seg } from './api';
import { useFocusOnMount } from './focus';
import { navigate } from './router';
import { runAction } from './requests';
import { can } from './session';
import type { Vm } from './types';
import { refreshAfterChange } from './vm-store';

type Action = 'stop' | 'suspend' | 'delete';

const LABELS: Record<Action, string> = { stop: 'Stop', suspend: 'Suspend', delete: 'Delete' };

export function VmActions({ vm, afterDelete }: { vm: Vm; afterDelete?: string }) {
  const confirming = useSignal<Action | undefined>(undefined);
  const busy = useSignal(false);
  const error = useSignal('');
  // After a cancelled confirmation the focus goes back to the button that asked for it.
  const buttons = useRef<HTMLDivElement>(null);
  const returnTo = useRef<Action | undefined>(undefined);
  useLayoutEffect(() => {
    if (returnTo.current && !confirming.value) {
      buttons.current?.querySelector<HTMLButtonElement>(`[data-action="${returnTo.current}"]`)?.focus();
      returnTo.current = undefined;
    }
  });
  if (!can('compute:write')) {
    return null;
  }

  const run = (action: Action) =>
    runAction({ busy, error }, async (creds) => {
      if (action === 'delete') {
        await api(creds, 'DELETE', `/v1/vms/${seg(vm.name)}`);
        refreshAfterChange();
        if (afterDelete) {
          navigate(afterDelete);
        }
      } else {
        // Power state is part of the spec (PUT /v1/vms/NAME); stopped and suspended are one-way.
        await api(creds, 'PUT', `/v1/vms/${seg(vm.name)}`, {
          name: vm.name,
          powerState: action === 'stop' ? 'stopped' : 'suspended',
        });
        refreshAfterChange();
      }
      confirming.value = undefined;
    });

  const pending = confirming.value;
  if (pending) {
    return (
      <Confirm
        question={`${LABELS[pending]} ${vm.name}?`}
        yes={`Yes, ${LABELS[pending].toLowerCase()}`}
        busy={busy.value}
        error={error.value}
        onYes={() => void run(pending)}
        onNo={() => {
          returnTo.current = pending;
          confirming.value = undefined;
        }}
      />
    );
  }

  const running = vm.powerState === 'running' && vm.status !== 'failed';
  return (
    <div class="actions" ref={buttons}>
      {running && (
        <button
          type="button"
          class="btn btn-small"
          aria-label={`Stop ${vm.name}`}
          data-action="stop"
          onClick={() => (confirming.value = 'stop')}
        >
          Stop
        </button>
      )}
      {running && vm.suspendable && (
        <button
          type="button"
          class="btn btn-small"
          aria-label={`Suspend ${vm.name}`}
          data-action="suspend"
          onClick={() => (confirming.value = 'suspend')}
        >
          Suspend
        </button>
      )}
      <button
        type="button"
        class="btn btn-small btn-danger"
        aria-label={`Delete ${vm.name}`}
        data-action="delete"
        onClick={() => (confirming.value = 'delete')}
      >
        Delete
      </button>
    </div>
  );
}

/** The confirmation that replaces the buttons; its "yes" button takes the focus, Escape cancels. */
function Confirm(props: {
  question: string;
  yes: string;
  busy: boolean;
  error: string;
  onYes: () => void;
  onNo: () => void;
}) {
  const yes = useFocusOnMount<HTMLButtonElement>();
  return (
    <div
      class="actions"
      role="group"
      aria-label={props.question}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          props.onNo();
        }
      }}
    >
      <span>{props.question}</span>
      <button type="button" class="btn btn-small btn-danger" disabled={props.busy} ref={yes} onClick={props.onYes}>
        {props.yes}
      </button>
      <button type="button" class="btn btn-small" onClick={props.onNo}>
        Cancel
      </button>
      {props.error && (
        <span class="form-error" role="alert">
          {props.error}
        </span>
      )}
    </div>
  );
}
