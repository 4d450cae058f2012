/**
 * `[LOCAL:]REMOTE` of `grove port-forward` (Orchard's `internal/command/portforward/portspec.go`): the remote port
 * 1–65535, and the local port to listen on, 0 or absent for a random free one.
 */
export interface PortSpec {
  /** 0: let the system pick a free port. */
  local: number;
  remote: number;
}

/** Parses `REMOTE` or `LOCAL:REMOTE`; throws an Error saying which part is wrong and why. */
export function parsePortSpec(text: string): PortSpec {
  const parts = text.split(':');
  if (parts.length > 2) {
    throw new Error(`expected REMOTE or LOCAL:REMOTE, got ${parts.length} parts separated by ":"`);
  }
  const remoteText = parts[parts.length - 1];
  const localText = parts.length === 2 ? parts[0] : '';
  const remote = portNumber(remoteText);
  if (remote === undefined || remote === 0) {
    throw new Error(`REMOTE port "${remoteText}" is not a number from 1 to 65535`);
  }
  // An empty LOCAL (":22") means the same as none at all: a random free port.
  const local = localText === '' ? 0 : portNumber(localText);
  if (local === undefined) {
    throw new Error(`LOCAL port "${localText}" is not a number from 0 to 65535 (0: a random free port)`);
  }
  return { local, remote };
}

function portNumber(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) {
    return undefined;
  }
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}
