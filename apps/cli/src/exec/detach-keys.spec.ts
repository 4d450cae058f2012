import { DetachKeys } from './detach-keys';

const CTRL_P = '\x10';
const CTRL_Q = '\x11';

describe('detach keys (Ctrl-P Ctrl-Q)', () => {
  it('forwards ordinary input untouched', () => {
    const keys = new DetachKeys();
    expect(keys.filter(Buffer.from('ls -l\r\x03')).toString()).toBe('ls -l\r\x03');
    expect(keys.detached).toBe(false);
  });

  it('detaches on Ctrl-P Ctrl-Q, in one chunk or typed apart, and forwards nothing after', () => {
    const together = new DetachKeys();
    expect(together.filter(Buffer.from(`ab${CTRL_P}${CTRL_Q}cd`)).toString()).toBe('ab');
    expect(together.detached).toBe(true);

    const apart = new DetachKeys();
    expect(apart.filter(Buffer.from(CTRL_P)).toString()).toBe('');
    expect(apart.filter(Buffer.from(CTRL_Q)).toString()).toBe('');
    expect(apart.detached).toBe(true);
  });

  it('holds a Ctrl-P back until the next key, then sends both', () => {
    const keys = new DetachKeys();
    expect(keys.filter(Buffer.from(CTRL_P)).toString()).toBe('');
    expect(keys.filter(Buffer.from('x')).toString()).toBe(`${CTRL_P}x`);
    expect(keys.filter(Buffer.from(`${CTRL_P}${CTRL_P}y`)).toString()).toBe(`${CTRL_P}${CTRL_P}y`);
    expect(keys.detached).toBe(false);
  });
});
