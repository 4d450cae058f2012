/** Row and page actions on one VM: change its power state, delete it; each asks for a confirmation first. */
import { useSignal } from '@preact/signals';
import { api, seg } from './api';
import { describeError } from './errors';
import { navigate } from './router';
import { can, credentials } from './session';
import type { Vm } from './types';
import { refreshAfterChange } from './vm-store';

type Action = 'stop' | 'suspend' | 'delete';

const LABELS: Record<Action, string> = { stop: 'Stop', suspend: 'Suspend', delete: 'Delete' };

export function VmActions({ vm, afterDelete }: { vm: Vm; afterDelete?: string }) {
  const confirming = useSignal<Action | undefined>(undefined);
  const busy = useSignal(false);
  const error = useSignal('');
  if (!can('compute:write')) {
    return null;
  }

  const run = async (action: Action) => {
    const creds = credentials.value;
    if (!creds) {
      return;
    }
    busy.value = true;
    error.value = '';
    try {
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
    } catch (err) {
      error.value = describeError(err);
    } finally {
      busy.value = false;
    }
  };

  const pending = confirming.value;
  if (pending) {
    return (
      <div class="actions" role="group" aria-label={`Confirm ${LABELS[pending].toLowerCase()} of ${vm.name}`}>
        <span>
          {LABELS[pending]} {vm.name}?
        </span>
        <button
          type="button"
          class="btn btn-small btn-danger"
          disabled={busy.value}
          autoFocus
          onClick={() => void run(pending)}
        >
          Yes, {LABELS[pending].toLowerCase()}
        </button>
        <button type="button" class="btn btn-small" onClick={() => (confirming.value = undefined)}>
          Cancel
        </button>
        {error.value && (
          <span class="form-error" role="alert">
            {error.value}
          </span>
        )}
      </div>
    );
  }

  const running = vm.powerState === 'running' && vm.status !== 'failed';
  return (
    <div class="actions">
      {running && (
        <button
          type="button"
          class="btn btn-small"
          aria-label={`Stop ${vm.name}`}
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
          onClick={() => (confirming.value = 'suspend')}
        >
          Suspend
        </button>
      )}
      <button
        type="button"
        class="btn btn-small btn-danger"
        aria-label={`Delete ${vm.name}`}
        onClick={() => (confirming.value = 'delete')}
      >
        Delete
      </button>
    </div>
  );
}
