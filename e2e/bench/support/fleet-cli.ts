import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_ADMIN, BENCH_ADMIN_TOKEN, CLI_MAIN } from '../bench-cluster';
import { summarise, type Summary } from '../stats';

/** Runs the CLI to its end without blocking this process (the fleet's heartbeats go on meanwhile). */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve({ code, stdout })
        : reject(new Error(`grove ${args.join(' ')} exited with ${code}: ${stderr}`)),
    );
  });
}

/**
 * `grove list vms` as a user runs it, `n` times from process start to exit (request, decompression, parsing and the
 * table), with a context in a temporary GROVE_HOME. Each run must print a row per VM: at least `expectVms` lines.
 */
export async function timeCliList(url: string, n: number, expectVms: number): Promise<Summary> {
  const home = mkdtempSync(join(tmpdir(), 'grove-fleet-cli-'));
  try {
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: home, GROVE_HOME: home };
    await runCli(
      ['context', 'create', url, '--service-account-name', BENCH_ADMIN, '--service-account-token', BENCH_ADMIN_TOKEN],
      env,
    );
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const { stdout } = await runCli(['list', 'vms'], env);
      samples.push(performance.now() - started);
      const lines = stdout.split('\n').filter((line) => line.trim() !== '').length;
      if (lines < expectVms) {
        throw new Error(`grove list vms printed ${lines} lines for ${expectVms} VMs`);
      }
    }
    return summarise(samples);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
