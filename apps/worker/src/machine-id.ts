import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Extracts IOPlatformUUID from `ioreg -a -c IOPlatformExpertDevice -d2` (plist XML) or `ioreg -rd1` (text) output. */
export function parseIoregPlatformUuid(output: string): string | undefined {
  const xml = /<key>IOPlatformUUID<\/key>\s*<string>([^<]+)<\/string>/.exec(output);
  if (xml) {
    return xml[1].trim();
  }
  const text = /"IOPlatformUUID"\s*=\s*"([^"]+)"/.exec(output);
  return text ? text[1].trim() : undefined;
}

/**
 * The identity of this machine, which binds a worker name to one host (orchard.md §2.4): IOPlatformUUID on macOS,
 * `/etc/machine-id` on Linux.
 */
export async function readMachineId(platform: NodeJS.Platform = process.platform): Promise<string> {
  if (platform === 'darwin') {
    const { stdout } = await execFileAsync('ioreg', ['-rd1', '-c', 'IOPlatformExpertDevice']);
    const uuid = parseIoregPlatformUuid(stdout);
    if (!uuid) {
      throw new Error('could not find IOPlatformUUID in the output of ioreg');
    }
    return uuid;
  }
  try {
    const id = (await readFile('/etc/machine-id', 'utf8')).trim();
    if (id === '') {
      throw new Error('/etc/machine-id is empty');
    }
    return id;
  } catch (err) {
    throw new Error('failed to read the machine id from /etc/machine-id', { cause: err });
  }
}
