import { useSignal } from '@preact/signals';
import { ApiError } from './api';
import { describeError } from './errors';
import { useFocusOnMount } from './focus';
import { signIn, signedOutReason } from './session';

export function SignInPage() {
  const name = useSignal('');
  const token = useSignal('');
  const error = useSignal('');
  const busy = useSignal(false);
  const nameInput = useFocusOnMount<HTMLInputElement>();

  const submit = async (e: Event) => {
    e.preventDefault();
    error.value = '';
    busy.value = true;
    try {
      await signIn({ name: name.value.trim(), token: token.value });
    } catch (err) {
      error.value =
        err instanceof ApiError && err.status === 401
          ? 'Wrong service account name or token.'
          : `Could not sign in: ${describeError(err)}`;
    } finally {
      busy.value = false;
    }
  };

  return (
    <main class="signin" id="main">
      <form class="card signin-card" onSubmit={(e) => void submit(e)} aria-labelledby="signin-title">
        <h1 id="signin-title">Grove console</h1>
        <p class="muted">Sign in with a service account. The token is kept in this tab only.</p>
        <label for="signin-name">Service account</label>
        <input
          id="signin-name"
          name="username"
          autoComplete="username"
          required
          ref={nameInput}
          value={name.value}
          onInput={(e) => (name.value = e.currentTarget.value)}
        />
        <label for="signin-token">Token</label>
        <input
          id="signin-token"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={token.value}
          onInput={(e) => (token.value = e.currentTarget.value)}
        />
        {signedOutReason.value && !error.value && (
          <p class="banner banner-warn" role="status">
            {signedOutReason.value}
          </p>
        )}
        {error.value && (
          <p class="form-error" role="alert" id="signin-error">
            {error.value}
          </p>
        )}
        <button type="submit" class="btn btn-primary" disabled={busy.value}>
          {busy.value ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
