/**
 * The create form, with Orchard's VM fields (`grove create vm` / `orchard create vm`). The API validates; its 400
 * message is shown next to the form and what was typed stays.
 */
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import type { TargetedEvent } from 'preact';
import { api, ApiError } from './api';
import { describeError } from './errors';
import { useFocusOnMount } from './focus';
import { EMPTY_DRAFT, FieldError, toCreateBody, type Draft } from './vm-create-body';
import {
  BRIDGED,
  CHECKS,
  CheckField,
  IMAGE_AND_SIZE,
  LISTS_AND_SCRIPT,
  SOFTNET,
  SSH_LOGIN,
  TextField,
} from './vm-create-fields';
import { credentials } from './session';
import type { Vm } from './types';
import { refreshAfterChange } from './vm-store';

/** The form fields a 400 names (`{errors: [{field: "startup_script.script_content"}]}` → `startup_script`). */
function apiErrorFields(err: unknown): string[] {
  if (!(err instanceof ApiError) || typeof err.body !== 'object' || err.body === null) {
    return [];
  }
  const errors = (err.body as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) {
    return [];
  }
  return errors
    .map((e) => (typeof e === 'object' && e !== null ? (e as { field?: unknown }).field : undefined))
    .filter((f): f is string => typeof f === 'string')
    .map((f) => f.split('.')[0]);
}

export function VmCreateForm({ onClose }: { onClose: () => void }) {
  const draft = useSignal<Draft>({ ...EMPTY_DRAFT });
  const error = useSignal('');
  const busy = useSignal(false);
  const created = useSignal('');
  const d = draft.value;
  const nameInput = useFocusOnMount<HTMLInputElement>();
  // The fields the last error names (API field names, as the inputs are named): marked invalid, the first focused.
  const invalid = useSignal<string[]>([]);
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => {
    const fields = form.current?.querySelectorAll<HTMLElement>('input[name], select[name], textarea[name]') ?? [];
    let first: HTMLElement | undefined;
    for (const el of fields) {
      const bad = invalid.value.includes(el.getAttribute('name') ?? '');
      if (bad) {
        el.setAttribute('aria-invalid', 'true');
        el.setAttribute('aria-describedby', 'create-error');
        first ??= el;
      } else {
        el.removeAttribute('aria-invalid');
        el.removeAttribute('aria-describedby');
      }
    }
    first?.focus();
  }, [invalid.value]);

  const set = <K extends keyof Draft>(key: K, value: Draft[K]) => {
    draft.value = { ...draft.value, [key]: value };
  };
  const text = (key: keyof Draft) => (e: TargetedEvent<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>) =>
    set(key, e.currentTarget.value as never);
  const check = (key: keyof Draft) => (e: TargetedEvent<HTMLInputElement>) =>
    set(key, e.currentTarget.checked as never);

  const submit = async (e: Event) => {
    e.preventDefault();
    const creds = credentials.value;
    if (!creds) {
      return;
    }
    error.value = '';
    invalid.value = [];
    created.value = '';
    let body: Record<string, unknown>;
    try {
      body = toCreateBody(draft.value);
    } catch (err) {
      error.value = describeError(err);
      invalid.value = err instanceof FieldError ? [err.field] : [];
      return;
    }
    busy.value = true;
    try {
      const vm = await api<Vm>(creds, 'POST', '/v1/vms', body);
      created.value = vm.name;
      // The next VM usually differs by name only: keep the rest.
      draft.value = { ...draft.value, name: '' };
      refreshAfterChange();
    } catch (err) {
      error.value = describeError(err);
      invalid.value = apiErrorFields(err);
    } finally {
      busy.value = false;
    }
  };

  return (
    <form
      class="card"
      ref={form}
      onSubmit={(e) => void submit(e)}
      aria-labelledby="create-title"
      aria-describedby="create-error"
    >
      <h2 id="create-title">Create a VM</h2>
      <div class="form-grid">
        <label class="field">
          <span>Name</span>
          <input name="name" required ref={nameInput} value={d.name} onInput={text('name')} />
        </label>
        {IMAGE_AND_SIZE.map((spec) => (
          <TextField key={spec.key} spec={spec} value={d[spec.key]} onInput={text(spec.key)} />
        ))}
        <label class="field">
          <span>Image pull policy</span>
          <select name="imagePullPolicy" value={d.imagePullPolicy} onChange={text('imagePullPolicy')}>
            <option value="IfNotPresent">IfNotPresent</option>
            <option value="Always">Always</option>
          </select>
        </label>
        <label class="field">
          <span>Network</span>
          <select name="network" value={d.network} onChange={text('network')}>
            <option value="default">Shared (NAT)</option>
            <option value="softnet">Softnet (isolated)</option>
            <option value="bridged">Bridged</option>
          </select>
        </label>
        {d.network === 'softnet' &&
          SOFTNET.map((spec) => <TextField key={spec.key} spec={spec} value={d[spec.key]} onInput={text(spec.key)} />)}
        {d.network === 'bridged' && <TextField spec={BRIDGED} value={d.bridged} onInput={text('bridged')} />}
        <label class="field">
          <span>Restart policy</span>
          <select name="restart_policy" value={d.restartPolicy} onChange={text('restartPolicy')}>
            <option value="Never">Never</option>
            <option value="OnFailure">OnFailure</option>
          </select>
        </label>
        {SSH_LOGIN.map((spec) => (
          <TextField key={spec.key} spec={spec} value={d[spec.key]} onInput={text(spec.key)} />
        ))}
        <fieldset class="field wide checks">
          <legend class="sr-only">Options</legend>
          {CHECKS.map((spec) => (
            <CheckField key={spec.key} spec={spec} checked={d[spec.key]} onChange={check(spec.key)} />
          ))}
        </fieldset>
        {LISTS_AND_SCRIPT.map((spec) => (
          <TextField key={spec.key} spec={spec} value={d[spec.key]} onInput={text(spec.key)} />
        ))}
      </div>
      <div id="create-error" aria-live="polite">
        {error.value && (
          <p class="form-error" role="alert">
            {error.value}
          </p>
        )}
        {created.value && (
          <p class="banner banner-info" role="status">
            <span>
              Created <a href={`#/vms/${encodeURIComponent(created.value)}`}>{created.value}</a>.
            </span>
          </p>
        )}
      </div>
      <div class="actions">
        <button type="submit" class="btn btn-primary" disabled={busy.value}>
          {busy.value ? 'Creating…' : 'Create VM'}
        </button>
        <button type="button" class="btn" onClick={onClose}>
          Close
        </button>
      </div>
    </form>
  );
}
