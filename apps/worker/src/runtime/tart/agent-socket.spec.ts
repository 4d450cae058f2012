import { existsSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_SOCKET_PATH_BYTES, ensureSymlink, socketLinkPath } from './agent-socket';

describe('socketLinkPath', () => {
  it('leaves a dialable path alone', () => {
    expect(socketLinkPath('/Users/ci/.tart/vms/grove-a-0/control.sock', '/tmp')).toBeUndefined();
    expect(socketLinkPath(`/${'x'.repeat(MAX_SOCKET_PATH_BYTES - 1)}`, '/tmp')).toBeUndefined();
  });

  it('gives a too-long path a short, stable link name', () => {
    const long = `/Users/continuous-integration/.tart/vms/grove-a-much-longer-vm-name-3f0c7c8e-1d2b-4c55-9a1e-0b7e2f6a9c11-0/control.sock`;
    const link = socketLinkPath(long, '/tmp');
    expect(link).toMatch(/^\/tmp\/grove-agent-[0-9a-f]{20}\.sock$/);
    expect(socketLinkPath(long, '/tmp')).toBe(link);
    expect(socketLinkPath(`${long}x`, '/tmp')).not.toBe(link);
  });
});

describe('ensureSymlink', () => {
  it('creates, keeps and replaces the link', () => {
    const dir = mkdtempSync(join(tmpdir(), 'grove-agent-link-'));
    try {
      const link = join(dir, 'link.sock');
      ensureSymlink('/a/control.sock', link);
      expect(readlinkSync(link)).toBe('/a/control.sock');
      ensureSymlink('/a/control.sock', link);
      ensureSymlink('/b/control.sock', link);
      expect(readlinkSync(link)).toBe('/b/control.sock');
      rmSync(link);
      writeFileSync(link, 'not a link');
      ensureSymlink('/c/control.sock', link);
      expect(readlinkSync(link)).toBe('/c/control.sock');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      expect(existsSync(dir)).toBe(false);
    }
  });
});
