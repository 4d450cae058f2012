import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorkerLog } from './worker-log';

describe('worker log', () => {
  it('prints readable lines and appends JSON lines to --log-file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'grove-log-'));
    try {
      const printed: string[] = [];
      const file = join(dir, 'logs', 'worker.log');
      const log = createWorkerLog('mac-1', file, (text) => printed.push(text));
      log('connected to http://127.0.0.1:6120');
      log('creating VM ci');
      await log.close();
      expect(printed[0]).toMatch(/^\d{4}-\d\d-\d\dT.* worker mac-1: connected to http:\/\/127\.0\.0\.1:6120\n$/);
      const lines = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(lines).toEqual([
        { time: expect.any(String), worker: 'mac-1', msg: 'connected to http://127.0.0.1:6120' },
        { time: expect.any(String), worker: 'mac-1', msg: 'creating VM ci' },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
