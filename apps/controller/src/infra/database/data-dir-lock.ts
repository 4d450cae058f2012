import { openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';

const LOCK_FILE = 'controller.pid';

/** Whether a process with this pid exists (signal 0 checks without signalling). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims the data dir for this process while it runs the embedded database: PGlite has a single backend in one
 * process, so a second controller on the same data dir would corrupt it or fail obscurely. A lock left by a process
 * that no longer runs (a crash, a container restart where we are pid 1 again) is taken over. Returns the release
 * function.
 */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeFileSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw err;
      }
    }
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new Error(
        `another controller (pid ${pid}) is running on the data dir ${dataDir}: the embedded database serves one ` +
          'controller. To run several controllers, give them all the same GROVE_DATABASE_URL (a Postgres server).',
      );
    }
    rmSync(path, { force: true });
  }
  throw new Error(`could not lock the data dir ${dataDir} (${path} keeps coming back)`);
}
