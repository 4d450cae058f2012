import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanEnv } from './cli-process';

export interface OpenSshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface OpenSshRunOptions {
  /** Written to stdin, which is then closed; without it stdin is closed at once. */
  input?: string | Buffer;
  /** Extra environment (e.g. the password the askpass program answers with). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Runs the stock OpenSSH client (`ssh`, `scp`, `ssh-keygen`) with the test runner's environment minus Grove's
 * variables and minus an SSH agent (so that only the keys a test names are offered).
 */
export function runOpenSsh(
  program: string,
  args: readonly string[],
  options: OpenSshRunOptions = {},
): Promise<OpenSshResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = { ...cleanEnv(), ...options.env };
    delete env['SSH_AUTH_SOCK'];
    const child = spawn(program, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${program} ${args.join(' ')} did not finish in time\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Makes an ed25519 key pair without a passphrase: `<dir>/<name>` and `<dir>/<name>.pub`; returns the private path. */
export function makeKeyPair(dir: string, name: string): string {
  const path = join(dir, name);
  const result = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@grove-e2e`, '-f', path]);
  if (result.status !== 0) {
    throw new Error(`ssh-keygen failed: ${String(result.stderr)}`);
  }
  return path;
}

/** `SHA256:…` of a public key file, as `ssh-keygen -l` prints it. */
export function keyFingerprint(publicKeyFile: string): string {
  const result = spawnSync('ssh-keygen', ['-l', '-f', publicKeyFile], { encoding: 'utf8' });
  const match = /(SHA256:\S+)/.exec(result.stdout);
  if (!match) {
    throw new Error(`ssh-keygen -l printed no fingerprint: ${result.stdout}${result.stderr}`);
  }
  return match[1];
}

/**
 * An SSH_ASKPASS program for password logins without a terminal (and without sshpass): it answers `admin` when
 * asked for the password of `admin@…` (the synthetic VMs' SSH server), and the value of GROVE_E2E_PASSWORD to any
 * other prompt (a service account's token at the gateway). Use with SSH_ASKPASS_REQUIRE=force.
 */
export function writeAskpass(dir: string): string {
  const path = join(dir, 'askpass.sh');
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      'case "$1" in',
      '  *admin@*) echo admin ;;',
      '  *) printf "%s\\n" "$GROVE_E2E_PASSWORD" ;;',
      'esac',
      '',
    ].join('\n'),
  );
  chmodSync(path, 0o700);
  return path;
}

/** The environment that makes ssh ask `askpass` for passwords, answering `password` at the gateway. */
export function askpassEnv(askpass: string, password = ''): Record<string, string> {
  return { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', GROVE_E2E_PASSWORD: password };
}
