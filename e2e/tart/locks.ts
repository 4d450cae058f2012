import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { sleep } from './output';

/**
 * Locks are PID files instead of Tart's fcntl/flock locks (node has neither). tart.md §7 allows this: a lock counts as
 * held only while the PID in the file names a live process, so it clears by itself when its holder dies (SIGKILL
 * included), like a kernel-released fcntl lock.
 */

/** True when `pid` is a live process (a zombie awaiting its parent counts as dead, as its locks are gone). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) {
    return false;
  }
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') {
      return false;
    }
  }
  try {
    // Linux only: the third field of /proc/<pid>/stat is the state; Z means exited but not reaped.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

/** What a lock file holds. */
export interface LockRecord {
  pid: number;
  [extra: string]: unknown;
}

/** The live holder of the lock at `path`, if any. */
export function lockHolder(path: string): LockRecord | undefined {
  let record: LockRecord;
  try {
    record = JSON.parse(readFileSync(path, 'utf8')) as LockRecord;
  } catch {
    return undefined; // missing, or being written/removed concurrently: not running (tart.md §1.2 `list`)
  }
  return processAlive(record.pid) ? record : undefined;
}

/**
 * Tries to take the lock at `path` for this process; false when a live process holds it. A stale file (dead holder) is
 * replaced.
 */
export function tryLock(path: string, extra: Record<string, unknown> = {}): boolean {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, JSON.stringify({ ...extra, pid: process.pid }));
      } finally {
        closeSync(fd);
      }
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw err;
      }
    }
    const holder = lockHolder(path);
    if (holder) {
      return holder.pid === process.pid;
    }
    try {
      unlinkSync(path);
    } catch {
      // someone else removed the stale file first; try again
    }
  }
  return false;
}

/** Releases a lock this process holds (a no-op when someone else holds it). */
export function unlock(path: string): void {
  if (lockHolder(path)?.pid === process.pid) {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
}

/** Waits for the lock (calling `onWait` once if it has to), runs `fn`, releases it. */
export async function withLock<T>(path: string, fn: () => Promise<T> | T, onWait?: () => void): Promise<T> {
  let waited = false;
  while (!tryLock(path)) {
    if (!waited) {
      onWait?.();
      waited = true;
    }
    await sleep(20);
  }
  try {
    return await fn();
  } finally {
    unlock(path);
  }
}
