import { useSignal } from '@preact/signals';
import type { RfbCredentials } from '@novnc/novnc';

interface CredentialsFormProps {
  /** What the VNC server asks for (`password`; `username` too for macOS Screen Sharing). */
  types: Array<keyof RfbCredentials>;
  /** Proposed user name (the VM's `username`). */
  username: string;
  onSubmit: (credentials: RfbCredentials) => void;
}

/** Asks for the credentials a VNC server wants (Tart VMs' Screen Sharing has a password). */
export function CredentialsForm({ types, username, onSubmit }: CredentialsFormProps) {
  const user = useSignal(username);
  const password = useSignal('');
  const target = useSignal('');
  return (
    <form
      class="card screen-credentials"
      aria-label="VNC credentials"
      onSubmit={(event) => {
        event.preventDefault();
        const given: RfbCredentials = {};
        if (types.includes('username')) {
          given.username = user.value;
        }
        if (types.includes('password')) {
          given.password = password.value;
        }
        if (types.includes('target')) {
          given.target = target.value;
        }
        onSubmit(given);
      }}
    >
      <p>The VM's VNC server asks for credentials (a macOS VM takes its user's name and password).</p>
      <div class="form-grid">
        {types.includes('username') && (
          <label class="field">
            <span>User name</span>
            <input
              autoComplete="username"
              value={user.value}
              onInput={(event) => (user.value = event.currentTarget.value)}
            />
          </label>
        )}
        {types.includes('password') && (
          <label class="field">
            <span>Password</span>
            <input
              type="password"
              autoComplete="current-password"
              autoFocus
              value={password.value}
              onInput={(event) => (password.value = event.currentTarget.value)}
            />
          </label>
        )}
        {types.includes('target') && (
          <label class="field">
            <span>Target</span>
            <input value={target.value} onInput={(event) => (target.value = event.currentTarget.value)} />
          </label>
        )}
      </div>
      <div class="actions">
        <button type="submit" class="btn btn-primary">
          Connect
        </button>
      </div>
    </form>
  );
}
