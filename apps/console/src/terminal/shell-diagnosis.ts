import type { Credentials } from '../api';
import { execSessionExists, findObstacle } from './reachability';
import type { Diagnosis } from './shell-session';

/**
 * Why a shell's WebSocket did not open: the VM or its worker (from the REST API), else, once the session exists,
 * whether the controller still has it (a controller restart ends every session).
 */
export async function diagnoseShell(
  creds: Credentials,
  vm: string,
  sessionId: string,
  attaching: boolean,
): Promise<Diagnosis> {
  const obstacle = await findObstacle(creds, vm);
  if (obstacle) {
    return obstacle;
  }
  if (attaching && (await execSessionExists(creds, vm, sessionId)) === false) {
    return { final: true, message: 'The shell is gone: the controller no longer has its session (was it restarted?).' };
  }
  return { final: false, message: 'The connection to the shell failed.' };
}

/** A fresh session id (crypto.randomUUID needs a secure context; a console on plain http has none). */
export function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
