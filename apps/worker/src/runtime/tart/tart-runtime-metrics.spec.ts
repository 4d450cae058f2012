import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkerMetrics } from '../../metrics/worker-metrics';
import { sampleValue } from '../../test-support/metrics-text';
import { runOptions } from '../../test-support/run-options';
import { TartRuntime } from './tart-runtime';

// A scripted `tart`: pulls and clones of `remote` download (printing Tart's progress lines), `broken` fails, `slow`
// takes until it is killed, `delete` says the VM is gone (exit 2, which a delete takes as done).
const FAKE_TART = `#!/bin/sh
case "$*" in
  "pull remote") printf 'pulling manifest...\\npulling disk (1.5 GB compressed)...\\n0%%\\n100%%\\npulling NVRAM...\\n' ;;
  "clone remote "*) printf 'pulling manifest...\\npulling disk (512 MB compressed)...\\n' ;;
  "clone local "*) ;;
  "clone broken "*) echo 'Error: boom' >&2; exit 1 ;;
  "clone slow "*) exec sleep 30 ;;
  "delete "*) echo "the specified VM \\"$2\\" does not exist" >&2; exit 2 ;;
  "run "*) echo 'Error Domain=VZErrorDomain Code=1 "The virtual machine failed to start."' >&2; exit 1 ;;
esac
exit 0
`;

describe('TartRuntime metrics', () => {
  const never = new AbortController().signal;
  let dir: string;
  let metrics: WorkerMetrics;
  let tart: TartRuntime;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'grove-tart-metrics-'));
    writeFileSync(join(dir, 'tart'), FAKE_TART);
    chmodSync(join(dir, 'tart'), 0o755);
    metrics = new WorkerMetrics();
    tart = new TartRuntime({ env: { PATH: `${dir}:/usr/bin:/bin` }, observer: metrics.tart });
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const scrape = async () => (await metrics.text()).body;

  it('counts failed commands by subcommand, but neither cancelled ones nor exits taken as done', async () => {
    await expect(tart.clone('broken', 'vm', never)).rejects.toThrow('tart command failed: "Error: boom"');
    await expect(tart.clone('broken', 'vm', never)).rejects.toThrow();
    expect((await tart.run('vm', runOptions(), never)).code).toBe(1);
    await tart.delete('vm');
    const abort = new AbortController();
    const slow = tart.clone('slow', 'vm', abort.signal);
    abort.abort();
    await expect(slow).rejects.toThrow('tart clone was cancelled');

    const text = await scrape();
    expect(sampleValue(text, 'grove_worker_tart_failures_total', { command: 'clone' })).toBe(2);
    expect(sampleValue(text, 'grove_worker_tart_failures_total', { command: 'run' })).toBe(1);
    expect(sampleValue(text, 'grove_worker_tart_failures_total', { command: 'delete' })).toBe(0);
  });

  it('counts a missing tart binary as a failure of the command tried', async () => {
    const missing = new TartRuntime({ tartBinary: join(dir, 'no-such-tart'), observer: metrics.tart });
    await expect(missing.start()).rejects.toThrow('tart command not found');
    expect(sampleValue(await scrape(), 'grove_worker_tart_failures_total', { command: 'version' })).toBe(1);
  });

  it('reports the bytes and time of downloads that Tart announces, for pull and for an implicit pull in clone', async () => {
    await tart.pull('remote', never);
    await tart.clone('remote', 'vm-1', never);
    await tart.clone('local', 'vm-2', never);
    const text = await scrape();
    expect(sampleValue(text, 'grove_worker_image_pull_bytes_total', { command: 'pull' })).toBe(1.5e9);
    expect(sampleValue(text, 'grove_worker_image_pull_bytes_total', { command: 'clone' })).toBe(512e6);
    expect(sampleValue(text, 'grove_worker_image_pull_seconds_count', { command: 'pull' })).toBe(1);
    // The clone of a local VM downloaded nothing.
    expect(sampleValue(text, 'grove_worker_image_pull_seconds_count', { command: 'clone' })).toBe(1);
  });
});
