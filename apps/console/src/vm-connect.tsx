import type { ComponentChildren } from 'preact';
import type { Credentials } from './api';
import { can, credentials, rolesKnown } from './session';
import { vmIsUp, vmNotRunning } from './terminal/reachability';
import type { Vm } from './types';

/*
 * What the Terminal and Screen tabs share before they open a WebSocket to the VM. A module of its own, so that the
 * Screen and Ports tabs do not load the Terminal tab's chunk (xterm.js) for a role check.
 */

/** Roles that may open the exec and port-forward WebSockets (docs/exec.md). */
export function canConnect(): boolean {
  return can('compute:connect') || can('compute:write');
}

interface ConnectGateProps {
  vm: Vm;
  /** What the tab does, after "This account cannot": `open a terminal`. */
  action: string;
  /** What opens once the VM runs: `terminal`. */
  thing: string;
  /** The tab itself, given the signed-in account's credentials. */
  children: (creds: Credentials) => ComponentChildren;
}

/**
 * Renders the tab once the page knows the account may connect and the VM runs; until then a sentence saying why
 * not (nothing at all while signed out).
 */
export function ConnectGate({ vm, action, thing, children }: ConnectGateProps) {
  const creds = credentials.value;
  if (!creds) {
    return null;
  }
  if (!rolesKnown.value) {
    // After a page reload the roles arrive a moment later: no "cannot" sentence in the meantime.
    return <p class="muted">Loading…</p>;
  }
  if (!canConnect()) {
    return (
      <p class="banner banner-warn" role="status">
        This account cannot {action}: it needs the role compute:connect (or compute:write).
      </p>
    );
  }
  if (!vmIsUp(vm)) {
    return (
      <p class="banner banner-info" role="status">
        {vmNotRunning(vm)} The {thing} opens when it runs.
      </p>
    );
  }
  return <>{children(creds)}</>;
}
