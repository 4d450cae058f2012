import { createHash } from 'node:crypto';
import { readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The longest Unix socket path a client can dial: `sun_path` holds 104 bytes on macOS (108 on Linux), the terminating
 * NUL included. `tart run` sidesteps the limit by binding `control.sock` relative to the VM directory (tart.md §4.1);
 * a client in another process cannot, and `$TART_HOME/vms/grove-<name>-<uid>-<n>/control.sock` easily exceeds it.
 */
export const MAX_SOCKET_PATH_BYTES = 103;

/** Where a short symlink to `socketPath` goes in `dir` when the path itself is too long to dial; undefined if it is not. */
export function socketLinkPath(socketPath: string, dir: string): string | undefined {
  if (Buffer.byteLength(socketPath) <= MAX_SOCKET_PATH_BYTES) {
    return undefined;
  }
  const digest = createHash('sha256').update(socketPath).digest('hex').slice(0, 20);
  return join(dir, `grove-agent-${digest}.sock`);
}

/** Makes `link` a symlink to `target` (connect(2) follows it), replacing whatever was there. */
export function ensureSymlink(target: string, link: string): void {
  try {
    if (readlinkSync(link) === target) {
      return;
    }
  } catch {
    // missing or not a link: (re)create it below
  }
  rmSync(link, { force: true });
  symlinkSync(target, link);
}
