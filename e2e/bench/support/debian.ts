import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

/**
 * Makes sure `binary` exists, installing Debian's `pkg` with apt-get when we are root (benchmarks run on throwaway
 * machines); otherwise says what to install. apt-get's progress goes to stderr: stdout is the benchmark's report.
 */
export function ensureDebianPackage(binary: string, pkg: string): void {
  if (existsSync(binary)) {
    return;
  }
  if (process.getuid?.() !== 0) {
    throw new Error(`${binary} not found: install Debian's ${pkg} (sudo apt-get install -y ${pkg})`);
  }
  const aptGet = (args: string[]) => {
    process.stderr.write(`${binary} not found; running apt-get ${args.join(' ')}...\n`);
    return spawnSync('apt-get', args, {
      stdio: ['ignore', process.stderr, process.stderr],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status;
  };
  const install = ['install', '-y', '--no-install-recommends', pkg];
  if (aptGet(install) !== 0 && (aptGet(['update']) !== 0 || aptGet(install) !== 0)) {
    throw new Error(`apt-get install ${pkg} failed (see its output above)`);
  }
  if (!existsSync(binary)) {
    throw new Error(`${pkg} is installed but ${binary} is still missing`);
  }
}
