import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '@grove/testing';
import type { ExecFrame } from '@grove/resources';
import type { GroveClient } from '@grove/client';
import { BENCH_ADMIN, BENCH_ADMIN_TOKEN, CLI_MAIN, startBenchCluster } from './bench-cluster';
import { formatMs, summarise, timedPool, type Summary } from './stats';

/**
 * Exec benchmark: a controller on a throwaway Postgres cluster, one synthetic worker and one VM, whose guest agent
 * runs the commands (the synthetic runtime's in-process agent speaks the Tart agent protocol). Each sample runs
 * `true` in the VM and waits for its exit status, warm (the VM runs, the worker's tunnels are open):
 *
 * - `ws`:   the exec WebSocket (`GET /v1/vms/{name}/exec?command=true`) through the client library, open → exit frame;
 * - `post`: `POST /v1/vms/{name}/exec` (NDJSON) through the client library, request → exit event;
 * - `cli`:  a `grove exec vm NAME -- true` process, spawn → exit (Node's own start-up included);
 * - `ssh`:  the stock OpenSSH client through the controller's SSH gateway (`ssh -p P sa+VM@127.0.0.1 true`, a new
 *           process and SSH connection each, key login), the exec counterpart of the `cli` path;
 * - `ssh-mux`: the same over one multiplexed OpenSSH connection (ControlMaster), so each sample is one session channel.
 *
 * Then `--concurrent` execs of the WebSocket path at once. Bounded by --samples and --concurrent.
 *
 *   npm run bench:exec -- --samples 200 --concurrent 100
 */

const VM = 'bench-exec';

/** One exec over the WebSocket: resolves with the exit code. */
async function wsExec(client: GroveClient, command: string): Promise<number> {
  const ws = await client.vms.exec(VM, { command });
  return new Promise((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as ExecFrame;
      if (frame.type === 'exit') {
        resolve(frame.exit?.code ?? 0);
        ws.close();
      } else if (frame.type === 'error') {
        reject(new Error(frame.error));
        ws.close();
      }
    });
    ws.once('close', () => reject(new Error('the exec WebSocket closed before the exit frame')));
    ws.once('error', reject);
    ws.resume();
  });
}

async function postExec(client: GroveClient): Promise<number> {
  for await (const event of client.vms.execStream(VM, { command: 'true' })) {
    if (event.event === 'exit') {
      return event.code;
    }
    if (event.event === 'error') {
      throw new Error(event.message);
    }
  }
  throw new Error('the exec stream ended without an exit event');
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${file} exited with ${code}: ${stderr.trim()}`)),
    );
  });
}

function row(name: string, summary: Summary, errors: number): string {
  return `| ${name} | ${summary.count} | ${formatMs(summary.p50)} | ${formatMs(summary.p99)} | ${formatMs(summary.max)} | ${errors} |`;
}

/** Runs `task` `samples` times one after another; latencies of the successful ones and the count of failures. */
async function sequential(samples: number, task: () => Promise<unknown>): Promise<[number[], number]> {
  let errors = 0;
  const latencies = await timedPool(samples, 1, async () => {
    try {
      await task();
    } catch (err) {
      errors++;
      process.stderr.write(`  failed: ${(err as Error).message}\n`);
    }
  });
  return [latencies, errors];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      samples: { type: 'string', default: '200' },
      'cli-samples': { type: 'string', default: '30' },
      concurrent: { type: 'string', default: '100' },
      paths: { type: 'string', default: 'ws,post,cli,ssh,ssh-mux' },
    },
  });
  const samples = Number(values.samples);
  const cliSamples = Number(values['cli-samples']);
  const concurrent = Number(values.concurrent);
  const paths = new Set(values.paths.split(','));
  const sshPort = await freePort();
  const cluster = await startBenchCluster({ workers: 1, controllerArgs: ['--listen-ssh', `127.0.0.1:${sshPort}`] });
  const keyDir = mkdtempSync(join(tmpdir(), 'grove-bench-ssh-'));
  try {
    const client = cluster.client;
    await client.vms.create({ name: VM, image: 'any' });
    process.stderr.write('waiting for the VM to run...\n');
    for (let i = 0; ; i++) {
      if ((await client.vms.get(VM)).status === 'running') {
        break;
      }
      if (i > 600) {
        throw new Error(`VM ${VM} did not run within a minute`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Warm-up: the first exec of a VM pays for the agent connection and the tunnel pool's refill.
    for (let i = 0; i < 10; i++) {
      await wsExec(client, 'true');
    }
    const rows: string[] = [];
    if (paths.has('ws')) {
      process.stderr.write(`ws: ${samples} sequential execs...\n`);
      const [latencies, errors] = await sequential(samples, () => wsExec(client, 'true'));
      rows.push(row('exec WebSocket (client library), `true`', summarise(latencies), errors));
    }
    if (paths.has('post')) {
      process.stderr.write(`post: ${samples} sequential execs...\n`);
      const [latencies, errors] = await sequential(samples, () => postExec(client));
      rows.push(row('POST exec, NDJSON (client library), `true`', summarise(latencies), errors));
    }
    if (paths.has('cli')) {
      process.stderr.write(`cli: ${cliSamples} sequential grove exec processes...\n`);
      const env = {
        ...process.env,
        GROVE_URL: cluster.url,
        GROVE_SERVICE_ACCOUNT_NAME: BENCH_ADMIN,
        GROVE_SERVICE_ACCOUNT_TOKEN: BENCH_ADMIN_TOKEN,
      };
      const [latencies, errors] = await sequential(cliSamples, () =>
        run(process.execPath, [CLI_MAIN, 'exec', 'vm', VM, '--', 'true'], env),
      );
      rows.push(row('`grove exec vm NAME -- true` (new process each)', summarise(latencies), errors));
    }
    if (paths.has('ssh') || paths.has('ssh-mux')) {
      const key = join(keyDir, 'id_ed25519');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
      await client.serviceAccounts.addSshKey(BENCH_ADMIN, { publicKey: readFileSync(`${key}.pub`, 'utf8') });
      const base = [
        '-F',
        '/dev/null',
        '-i',
        key,
        '-p',
        String(sshPort),
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        `UserKnownHostsFile=${join(keyDir, 'known_hosts')}`,
        '-o',
        'LogLevel=ERROR',
      ];
      const target = `${BENCH_ADMIN}+${VM}@127.0.0.1`;
      if (paths.has('ssh')) {
        process.stderr.write(`ssh: ${cliSamples} sequential ssh processes through the gateway...\n`);
        const [latencies, errors] = await sequential(cliSamples, () =>
          run('ssh', [...base, target, 'true'], process.env),
        );
        rows.push(
          row('`ssh -p P sa+VM@controller true` (new process and connection each)', summarise(latencies), errors),
        );
      }
      if (paths.has('ssh-mux')) {
        const mux = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${join(keyDir, 'mux')}`, '-o', 'ControlPersist=60'];
        await run('ssh', [...base, ...mux, target, 'true'], process.env);
        process.stderr.write(`ssh-mux: ${samples} sequential ssh sessions over one connection...\n`);
        const [latencies, errors] = await sequential(samples, () =>
          run('ssh', [...base, ...mux, target, 'true'], process.env),
        );
        rows.push(row('same, multiplexed over one SSH connection (ControlMaster)', summarise(latencies), errors));
        process.stderr.write(`ssh-mux: ${concurrent} concurrent ssh sessions over one connection...\n`);
        let muxFailed = 0;
        const muxStarted = performance.now();
        const muxLatencies = await timedPool(concurrent, concurrent, () =>
          run('ssh', [...base, ...mux, target, 'true'], process.env).catch((err: Error) => {
            muxFailed++;
            process.stderr.write(`  failed: ${err.message}\n`);
          }),
        );
        rows.push(
          row(
            `${concurrent} concurrent ssh sessions, multiplexed (${formatMs(performance.now() - muxStarted)} ms wall)`,
            summarise(muxLatencies),
            muxFailed,
          ),
        );
        await run('ssh', [...base, ...mux, '-O', 'exit', target], process.env).catch(() => undefined);
      }
    }
    process.stderr.write(`${concurrent} concurrent execs...\n`);
    let failed = 0;
    const started = performance.now();
    const latencies = await timedPool(concurrent, concurrent, async (i) => {
      try {
        const code = await wsExec(client, `echo ${i}; exit 3`);
        if (code !== 3) {
          throw new Error(`exit ${code}, expected 3`);
        }
      } catch (err) {
        failed++;
        process.stderr.write(`  failed: ${(err as Error).message}\n`);
      }
    });
    const wall = performance.now() - started;
    rows.push(row(`${concurrent} concurrent execs (WebSocket), \`echo i; exit 3\``, summarise(latencies), failed));

    console.log(`Exec, warm VM on one synthetic worker (guest agent), Postgres ${cluster.postgres}, loopback\n`);
    console.log('| path | samples | p50 ms | p99 ms | max ms | errors |');
    console.log('|---|---|---|---|---|---|');
    for (const line of rows) {
      console.log(line);
    }
    console.log(`\n${concurrent} concurrent execs finished in ${formatMs(wall)} ms wall time.`);
    console.log(`\nCommand: npm run bench:exec -- ${process.argv.slice(2).join(' ')}`);
  } finally {
    await cluster.stop();
    rmSync(keyDir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
