import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { basename, dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

/**
 * CPU profiles of every process of a tunnel benchmark (issue 17). Node refuses `--cpu-prof` in NODE_OPTIONS and the
 * bench cluster starts the controller, the worker and the CLI itself, so this module is preloaded instead:
 *
 *   BENCH_CPU_PROFILE_DIR=/tmp/prof NODE_OPTIONS="--require ./e2e/dist/bench/tunnel-cpu-profile.js" \
 *     node e2e/dist/bench/tunnel.bench.js --paths grove,grove-cli
 *
 * (not a GROVE_ variable: the benchmark starts the CLI without those). Each main thread profiles from start to exit and
 * writes `<app>-<pid>.cpuprofile` there (the format of
 * `node --cpu-prof`); `node e2e/dist/bench/tunnel-profile-summary.js DIR` prints the top functions by self time.
 */
const dir = process.env['BENCH_CPU_PROFILE_DIR'];
if (dir && isMainThread) {
  const session = new Session();
  session.connect();
  // The default interval, 1 ms (also `--cpu-prof-interval`'s default), misses short frames of a busy relay: 100 µs.
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 100 });
  session.post('Profiler.start');
  // apps/controller/dist/main.js → controller; e2e/dist/bench/tunnel.bench.js → tunnel.bench.
  const script = process.argv[1] ?? 'node';
  const name = basename(script) === 'main.js' ? basename(dirname(dirname(script))) : basename(script, '.js');
  // Same-thread inspector sessions answer synchronously, so the profile is written before the process is gone.
  process.once('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err) {
        writeFileSync(join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
      }
    });
  });
}
