import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { HostProcess } from '@grove/resources';

/** The test host program (host-process-echo.cjs), run by this Node. */
export const ECHO_SCRIPT = join(__dirname, 'host-process-echo.cjs');

/** A host process running the test program with these options. */
export function echoProcess(name: string, ...options: string[]): HostProcess {
  return { name, program: process.execPath, args: [ECHO_SCRIPT, ...options] };
}

/** What the test program says about itself as the first line of each connection. */
export interface EchoDescription {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  pid: number;
}

/** Reads the first line of a connection to the test program: its description. */
export function readDescription(socket: Socket): Promise<EchoDescription> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (data: Buffer) => {
      text += data.toString();
      const newline = text.indexOf('\n');
      if (newline >= 0) {
        socket.off('data', onData);
        resolve(JSON.parse(text.slice(0, newline)) as EchoDescription);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Connects to a Unix socket and reads the description of the test program listening there. */
export async function describeAt(path: string): Promise<EchoDescription> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ path });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
  try {
    return await readDescription(socket);
  } finally {
    socket.destroy();
  }
}

/**
 * Whether a process exists and is not a zombie: a killed grandchild is re-parented to PID 1, which in a container may
 * never reap it, so signal 0 alone would call it alive.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch (err) {
    // Gone meanwhile, or no /proc (macOS), where signal 0 is the answer.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' || process.platform !== 'linux';
  }
}
