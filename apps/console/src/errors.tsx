/**
 * Visible errors (issue 16, quality): each source of background requests (the VM watch, the worker poll, a VM's page)
 * reports its failure under its own key and clears it when it recovers, so the banner goes away by itself. Errors
 * of a user's action stay until dismissed.
 */
import { signal } from '@preact/signals';
import { ApiError } from './api';
import { signOut } from './session';

export interface Problem {
  key: string;
  message: string;
  /** A failure the page recovers from by itself (shown with "retrying"); otherwise dismissible. */
  retrying: boolean;
}

export const problems = signal<Problem[]>([]);

export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    return err.status === 0 ? 'The controller is unreachable.' : err.message;
  }
  if (err instanceof Error) {
    return err.message;
  }
  return String(err);
}

/**
 * Shows (or updates) the problem of `key`; `context` says what failed ("Could not read the workers"). The controller
 * being unreachable reads the same from every source, so the banner shows it once. A token the controller refuses
 * (401) ends the session: the sign-in page says why.
 */
export function reportProblem(key: string, err: unknown, retrying = true, context?: string): void {
  if (err instanceof ApiError && err.status === 401) {
    signOut('The controller no longer accepts this token; sign in again.');
    return;
  }
  const unreachable = err instanceof ApiError && err.status === 0;
  const text = describeError(err);
  const message = unreachable || !context ? text : `${context}: ${text}`;
  const problem = { key, message, retrying };
  const others = problems.value.filter((p) => p.key !== key);
  problems.value = [...others, problem];
}

/** Clears the problem of `key`, if any (the source recovered). */
export function clearProblem(key: string): void {
  if (problems.value.some((p) => p.key === key)) {
    problems.value = problems.value.filter((p) => p.key !== key);
  }
}

export function ErrorBanner() {
  // One banner per distinct message (several sources lose the controller at once).
  const list = problems.value.filter((p, i, all) => all.findIndex((q) => q.message === p.message) === i);
  if (list.length === 0) {
    return null;
  }
  return (
    <div class="banners" role="alert" aria-live="assertive">
      {list.map((p) => (
        <div class="banner banner-error" key={p.key}>
          <span>
            {p.message}
            {p.retrying ? ' Retrying…' : ''}
          </span>
          {!p.retrying && (
            <button type="button" class="btn-ghost" aria-label="Dismiss this error" onClick={() => clearProblem(p.key)}>
              ×
            </button>
          )}
        </div>
      ))}
    </div>
  );
}
