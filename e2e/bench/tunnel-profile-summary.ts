import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Prints the functions with the most self time in each `.cpuprofile` of a directory (written by
 * tunnel-cpu-profile.ts or `node --cpu-prof`), as shares of the process's busy (non-idle) time:
 *
 *   node e2e/dist/bench/tunnel-profile-summary.js /tmp/prof [top=12]
 */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

const IDLE = new Set(['(idle)', '(program)']);

function where(url: string, line: number): string {
  const short = url.replace(/^.*node_modules\//, '').replace(/^.*\/(apps|libs|e2e)\//, '$1/');
  return short ? `${short}:${line + 1}` : '';
}

function summarise(file: string, top: number): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const self = new Map<string, number>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const frame = frames.get(id)!;
    total += us;
    if (IDLE.has(frame.functionName)) {
      idle += us;
      return;
    }
    const key = `${frame.functionName || '(anonymous)'} ${where(frame.url, frame.lineNumber)}`.trim();
    self.set(key, (self.get(key) ?? 0) + us);
  });
  const busy = total - idle;
  console.log(`${file}: ${(busy / 1e6).toFixed(2)} s busy of ${(total / 1e6).toFixed(2)} s`);
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${((us / busy) * 100).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(0).padStart(6)} ms  ${key}`);
  }
}

const [dir, top] = process.argv.slice(2);
if (!dir) {
  throw new Error('usage: tunnel-profile-summary.js DIR [top]');
}
for (const name of readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile'))
  .sort()) {
  summarise(join(dir, name), Number(top ?? 12));
}
