import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '@grove/testing';
import { ensureDebianPackage } from './debian';
import { startDelayProxyThread } from './targets';

const SSHD = '/usr/sbin/sshd';
const HOST = '127.0.0.1';

/** One OpenSSH client connection carrying one `-L` forward per target port. */
export interface OpenSshForwards {
  /** Local ports, in the order of `targetPorts`; each leads to the matching target through sshd. */
  localPorts: number[];
  /** `ssh -V`, e.g. "OpenSSH_9.2p1 Debian-2+deb12u6, OpenSSL 3.0.19 27 Jan 2026". */
  version: string;
  /** The cipher the client and sshd negotiated (from a probe connection's `ssh -v` output). */
  cipher: string;
  /** Stops ssh, the delay proxy and sshd, and removes the temporary directory. */
  close(): Promise<void>;
}

export interface OpenSshForwardOptions {
  /** One-way delay in ms on the ssh↔sshd hop (a delay proxy between them), the hop Grove's worker↔controller link is. */
  delayMs?: number;
  /** An ssh `-c` cipher; OpenSSH's default choice otherwise. */
  cipher?: string;
}

/** Output of a child, the last 64 KiB of it, for error messages. */
export function collectOutput(child: ChildProcess): () => string {
  let output = '';
  const append = (chunk: string) => {
    output = (output + chunk).slice(-64 * 1024);
  };
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  return () => output;
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr || String(result.error)}`, {
      cause: result.error,
    });
  }
  return `${result.stdout}${result.stderr}`;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Stops a child with SIGTERM (SIGKILL after 5 s) — its whole process group if it leads one — and waits for it. */
export async function stopChild(child: ChildProcess, group: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid;
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(group ? -pid : pid, signal);
    } catch {
      // Already gone.
    }
  };
  kill('SIGTERM');
  const timer = setTimeout(() => kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Pids whose parent is `parent` (Linux /proc). */
function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may contain spaces and parentheses, so count fields after the last ')'.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) {
        pids.push(Number(entry));
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Resolves true once `port` accepts a connection and, if `banner` is given, sends data starting with it. */
function probe(port: number, banner?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('error', () => done(false));
    socket.once('connect', () => (banner === undefined ? done(true) : undefined));
    socket.once('data', (chunk: Buffer) => done(chunk.toString('latin1').startsWith(banner ?? '')));
    socket.setTimeout(2_000, () => done(false));
  });
}

/**
 * Starts a private sshd on 127.0.0.1 (keys, config and pid file in a temporary directory) and one `ssh -N` client
 * with a `-L 127.0.0.1:<local>:127.0.0.1:<target>` forward per target port, all on one SSH connection — as Grove
 * multiplexes every session of a worker over one link. With `delayMs`, a delay proxy sits between ssh and sshd.
 */
export async function startOpenSshForwards(
  options: OpenSshForwardOptions & { targetPorts: number[] },
): Promise<OpenSshForwards> {
  ensureDebianPackage(SSHD, 'openssh-server');
  const version = run('ssh', ['-V']).trim();
  const user = isRoot() ? 'root' : userInfo().username;
  const dir = mkdtempSync(join(tmpdir(), 'grove-openssh-'));
  const cleanups: Array<() => Promise<void> | void> = [() => rmSync(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup();
    }
  };
  try {
    const hostKey = join(dir, 'host_ed25519');
    const clientKey = join(dir, 'client_ed25519');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'grove-bench-host', '-f', hostKey]);
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'grove-bench-client', '-f', clientKey]);
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`), { mode: 0o600 });
    const config = join(dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `ListenAddress ${HOST}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        // We run as root in the sandbox; keys only.
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        // The temporary directory is not root-owned 0755 all the way up.
        'StrictModes no',
        'UsePAM no',
        'AllowTcpForwarding yes',
        'X11Forwarding no',
        'PrintMotd no',
        'Subsystem sftp internal-sftp',
        '',
      ].join('\n'),
    );
    if (isRoot()) {
      // sshd's privilege-separation directory; the package normally creates it at boot.
      mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    }

    const sshdPort = await freePort();
    // A process group of its own, so close() also reaches the per-connection sshd processes it forks.
    const sshd = spawn(SSHD, ['-D', '-e', '-f', config, '-p', String(sshdPort)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const sshdOutput = collectOutput(sshd);
    cleanups.push(async () => {
      // By now ssh is gone, so the per-connection sshd processes are ending: let them finish while the listener is
      // there to reap them (killed with it, they outlive it as zombies of PID 1, which does not reap in containers).
      const listener = sshd.pid;
      if (listener !== undefined) {
        await waitFor('sshd connections to end', () => childPids(listener).length === 0, 5_000).catch(() => undefined);
      }
      await stopChild(sshd, true);
    });
    await waitFor('sshd to accept connections', async () => {
      if (sshd.exitCode !== null) {
        throw new Error(`sshd exited with ${sshd.exitCode}: ${sshdOutput()}`);
      }
      return probe(sshdPort, 'SSH-');
    }).catch((err: unknown) => {
      throw new Error(`sshd did not start: ${sshdOutput()}`, { cause: err });
    });

    let sshPort = sshdPort;
    if (options.delayMs !== undefined && options.delayMs > 0) {
      const proxy = await startDelayProxyThread({ target: { host: HOST, port: sshdPort }, delayMs: options.delayMs });
      cleanups.push(() => proxy.close());
      sshPort = proxy.port;
    }

    const common = [
      ...['-F', '/dev/null', '-i', clientKey, '-p', String(sshPort)],
      ...['-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'],
      ...['-o', 'BatchMode=yes'],
      ...(options.cipher ? ['-c', options.cipher] : []),
    ];
    // A probe connection, verbose, to learn the negotiated cipher and to fail early (with ssh's words) on auth problems;
    // the forwarding client below runs quietly so debug logging does not cost it anything.
    const verbose = spawnSync('ssh', [...common, '-v', `${user}@${HOST}`, 'true'], { encoding: 'utf8' });
    if (verbose.status !== 0) {
      throw new Error(`ssh probe failed (${verbose.status}): ${verbose.stderr}\nsshd: ${sshdOutput()}`);
    }
    const cipher = /kex: server->client cipher: (\S+)/.exec(verbose.stderr)?.[1] ?? 'unknown';

    const localPorts = await Promise.all(options.targetPorts.map(() => freePort()));
    const forwards = options.targetPorts.flatMap((target, i) => ['-L', `${HOST}:${localPorts[i]}:${HOST}:${target}`]);
    const ssh = spawn(
      'ssh',
      [...common, '-N', ...forwards, '-o', 'ExitOnForwardFailure=yes', '-o', 'LogLevel=ERROR', `${user}@${HOST}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const sshOutput = collectOutput(ssh);
    // Stopped before sshd and the proxy, so the SSH connection ends from the client side.
    cleanups.push(() => stopChild(ssh, false));
    for (const port of localPorts) {
      await waitFor(`ssh -L to listen on ${port}`, async () => {
        if (ssh.exitCode !== null) {
          throw new Error(`ssh exited with ${ssh.exitCode}: ${sshOutput()}`);
        }
        return probe(port);
      }).catch((err: unknown) => {
        throw new Error(`ssh -L did not come up: ${sshOutput()}\nsshd: ${sshdOutput()}`, { cause: err });
      });
    }
    return { localPorts, version, cipher, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** One `ssh -L` forward to `targetPort` (see {@link startOpenSshForwards}). */
export async function startOpenSshForward(
  options: OpenSshForwardOptions & { targetPort: number },
): Promise<{ localPort: number; version: string; cipher: string; close(): Promise<void> }> {
  const forwards = await startOpenSshForwards({ ...options, targetPorts: [options.targetPort] });
  return {
    localPort: forwards.localPorts[0],
    version: forwards.version,
    cipher: forwards.cipher,
    close: () => forwards.close(),
  };
}
