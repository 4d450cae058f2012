import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startNodeProcess, waitFor } from '@grove/testing';
import { CLI_MAIN, REPO } from './bench-cluster';
import { formatMs } from './stats';

/**
 * CLI start-up benchmark: how long a `grove` process takes from spawn to exit, for commands that do no network I/O
 * (`--version`, `--help`, `exec --help`) and for two that make one request each against a local development cluster
 * (`grove dev --workers 1` in a temporary GROVE_HOME, embedded database, one synthetic VM `v1`): `list vms` and
 * `exec vm v1 -- true`. Node's own start-up (`node -e 0`) is measured alongside as the floor.
 *
 * Runs are interleaved (round r runs every command of every build once) so that a load spike on the machine hits all
 * rows alike. `--cli` (repeatable) measures other builds of apps/cli/dist/main.js against the same cluster, e.g. a
 * build of another commit. Each command is also run once with a preload that counts the JavaScript modules it loaded:
 * unlike the times, that number does not depend on the machine.
 *
 *   npm run bench:cli-startup -- --runs 20 [--cli /path/to/other/apps/cli/dist/main.js]
 */

const VM = 'v1';

const COMMANDS: readonly string[][] = [
  ['--version'],
  ['--help'],
  ['exec', '--help'],
  ['list', 'vms'],
  ['exec', 'vm', VM, '--', 'true'],
];

/** The CLI's environment: this process's minus GROVE_* settings (the cluster's context is the default), GROVE_HOME set. */
function cliEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('GROVE_')) {
      env[key] = value;
    }
  }
  return { ...env, GROVE_HOME: home };
}

/** Runs `node ARGS` to its end; resolves with the milliseconds from spawn to exit, rejects unless it exits with 0. */
function timedRun(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = performance.now() - started;
      if (code === 0) {
        resolvePromise(ms);
      } else {
        reject(new Error(`node ${args.join(' ')} exited with ${code}: ${stderr.trim()}`));
      }
    });
  });
}

/** The q-quantile (nearest rank) of `samples`. */
function quantile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

/** Starts `grove dev --workers 1` in `home` and creates a running VM; resolves with a function that stops it all. */
async function startDevCluster(home: string, env: NodeJS.ProcessEnv): Promise<() => Promise<void>> {
  const port = await freePort();
  const dev = startNodeProcess(
    [CLI_MAIN, 'dev', '--workers', '1', '--listen', `127.0.0.1:${port}`, '--data-dir', join(home, 'dev')],
    env,
  );
  // SIGINT, as Ctrl-C: `grove dev` stops its workers and controller before it exits.
  const stop = async () => {
    const code = await dev.stop('SIGINT', 30_000);
    if (code !== 0) {
      process.stderr.write(`grove dev exited with ${code}; its output:\n${dev.output()}\n`);
    }
  };
  try {
    await waitFor('grove dev', () => dev.output().includes('Press Ctrl-C to stop'), 120_000, 100);
    await waitFor('the worker', () => dev.output().includes(': connected to http:'), 30_000, 50);
    await timedRun([CLI_MAIN, 'create', 'vm', VM, '--image', 'any'], env);
    await waitFor(
      `VM ${VM} running`,
      async () => {
        const got = await new Promise<string>((resolvePromise, reject) => {
          const child = spawn(process.execPath, [CLI_MAIN, 'get', 'vm', VM, '-o', 'json'], { env });
          let out = '';
          child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
          child.once('error', reject);
          child.once('exit', () => resolvePromise(out));
        });
        return (JSON.parse(got) as { status: string }).status === 'running';
      },
      30_000,
      100,
    );
    return stop;
  } catch (err) {
    await stop();
    throw err;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '20' },
      cli: { type: 'string', multiple: true },
    },
  });
  const runs = Number(values.runs);
  const clis = (values.cli ?? [CLI_MAIN]).map((path) => resolve(path));
  // A build in this repository by its relative path, another (e.g. a checkout of an older commit) by its absolute one.
  const label = (cli: string) => (cli.startsWith(`${REPO}/`) ? relative(REPO, cli) : cli);
  const home = mkdtempSync(join(tmpdir(), 'grove-bench-cli-startup-'));
  const env = cliEnv(home);
  let stopCluster = () => Promise.resolve();
  try {
    process.stderr.write('starting grove dev --workers 1...\n');
    stopCluster = await startDevCluster(home, env);
    const rows = [
      { name: 'node -e 0 (no CLI: the floor)', args: ['-e', '0'], cli: '' },
      ...clis.flatMap((cli) =>
        COMMANDS.map((command) => ({ name: `grove ${command.join(' ')}`, args: [cli, ...command], cli })),
      ),
    ];
    // Warm-up: the file system cache, and the controller's first request per route.
    for (const row of rows) {
      await timedRun(row.args, env);
      await timedRun(row.args, env);
    }
    const samples = rows.map(() => [] as number[]);
    for (let round = 0; round < runs; round++) {
      process.stderr.write(`round ${round + 1}/${runs}\r`);
      for (const [i, row] of rows.entries()) {
        samples[i].push(await timedRun(row.args, env));
      }
    }
    process.stderr.write('\n');
    const counter = join(home, 'count-modules.js');
    writeFileSync(
      counter,
      "process.on('exit', () => require('node:fs').writeFileSync(process.env.MODULES_OUT, " +
        'String(Object.keys(require.cache).length)));\n',
    );
    const modules: number[] = [];
    for (const row of rows) {
      const out = join(home, 'modules.txt');
      await timedRun(['--require', counter, ...row.args], { ...env, MODULES_OUT: out });
      // The preload itself is in require.cache; not counted.
      modules.push(Number(readFileSync(out, 'utf8')) - 1);
    }

    // Node reads this CA bundle at every start-up, before any code of the CLI runs: it shows in every row.
    const extraCerts = process.env['NODE_EXTRA_CA_CERTS'] ? ', NODE_EXTRA_CA_CERTS set' : '';
    console.log(
      `CLI start-up, ${runs} runs per command (spawn → exit), Node ${process.version}, ${process.platform}${extraCerts}\n`,
    );
    console.log(`| command | ${clis.length > 1 ? 'build | ' : ''}median ms | p90 ms | min ms | JS modules loaded |`);
    console.log(`|---|${clis.length > 1 ? '---|' : ''}---|---|---|---|`);
    for (const [i, row] of rows.entries()) {
      const build = clis.length > 1 ? ` ${label(row.cli)} |` : '';
      const [median, p90, min] = [quantile(samples[i], 0.5), quantile(samples[i], 0.9), Math.min(...samples[i])];
      console.log(
        `| \`${row.name}\` |${build} ${formatMs(median)} | ${formatMs(p90)} | ${formatMs(min)} | ${modules[i]} |`,
      );
    }
    console.log(`\nCommand: npm run bench:cli-startup -- ${process.argv.slice(2).join(' ')}`);
  } finally {
    await stopCluster();
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
