/** The signed-in state: the account's credentials (kept for this tab only) and the roles the controller reports. */
import { computed, effect, signal } from '@preact/signals';
import { api, type Credentials } from './api';

const STORAGE_KEY = 'grove.console.credentials';

interface SessionInfo {
  name: string;
  roles: string[];
}

function loadCredentials(): Credentials | undefined {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) {
      return undefined;
    }
    const parsed = JSON.parse(raw) as Partial<Credentials>;
    return typeof parsed.name === 'string' && typeof parsed.token === 'string'
      ? { name: parsed.name, token: parsed.token }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The account in use, or undefined when signed out; kept in sessionStorage (the tab only, issue 16). */
export const credentials = signal<Credentials | undefined>(loadCredentials());

/** The roles of the signed-in account (`GET /v1/session`); empty until known. */
export const roles = signal<Set<string>>(new Set());

/** Whether the roles were loaded for the current credentials. */
export const rolesKnown = signal(false);

export const signedIn = computed(() => credentials.value !== undefined);

effect(() => {
  const creds = credentials.value;
  try {
    if (creds) {
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify(creds));
    } else {
      sessionStorage.removeItem(STORAGE_KEY);
    }
  } catch {
    // Storage disabled (private mode): the session lasts as long as the page.
  }
});

/** Whether the signed-in account has `role`: buttons it may not use are not shown. */
export function can(role: string): boolean {
  return roles.value.has(role);
}

/** Checks the credentials with `GET /v1/session`; on success they become the session. Throws ApiError otherwise. */
export async function signIn(creds: Credentials): Promise<void> {
  const info = await api<SessionInfo>(creds, 'GET', '/v1/session');
  roles.value = new Set(info.roles);
  rolesKnown.value = true;
  signedOutReason.value = '';
  credentials.value = { name: info.name || creds.name, token: creds.token };
}

/** Reloads the roles of the stored credentials (after a page reload). Throws ApiError. */
export async function refreshSession(): Promise<void> {
  const creds = credentials.value;
  if (!creds) {
    return;
  }
  const info = await api<SessionInfo>(creds, 'GET', '/v1/session');
  roles.value = new Set(info.roles);
  rolesKnown.value = true;
}

/** Why the session ended, when it was not the user's choice; the sign-in page shows it. */
export const signedOutReason = signal('');

export function signOut(reason = ''): void {
  signedOutReason.value = reason;
  credentials.value = undefined;
  roles.value = new Set();
  rolesKnown.value = false;
}
