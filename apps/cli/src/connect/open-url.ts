import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Env } from '../config/config-file';

/**
 * The program that opens a URL in the desktop's default application: `open` on macOS, `xdg-open` elsewhere when it is
 * on PATH; undefined when there is none.
 */
export function urlOpener(platform: NodeJS.Platform, env: Env, isExecutable = executable): string | undefined {
  if (platform === 'darwin') {
    return 'open';
  }
  if (platform === 'win32') {
    return undefined;
  }
  const dirs = (env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== '');
  const found = dirs.map((dir) => join(dir, 'xdg-open')).find(isExecutable);
  return found;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Hands `url` to the desktop (detached: the viewer outlives nothing of ours); `warn` gets one line when that is
 * impossible or the opener fails, so the user knows to open the printed URL by hand.
 */
export function openUrl(url: string, env: Env, warn: (text: string) => void): void {
  const opener = urlOpener(process.platform, env);
  if (opener === undefined) {
    warn('no program to open URLs (open or xdg-open) was found: open the URL above in a VNC viewer');
    return;
  }
  const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
  child.once('error', (err) => warn(`could not run ${opener}: ${err.message}; open the URL above in a VNC viewer`));
  child.once('exit', (code) => {
    if (code !== 0 && code !== null) {
      warn(`${opener} could not open the URL (exit code ${code}): open it in a VNC viewer`);
    }
  });
  child.unref();
}
