import { devControllerUrl } from './dev.commands';

describe('grove dev controller URL', () => {
  it('reaches a wildcard listen on loopback and brackets an IPv6 host', () => {
    expect(devControllerUrl('127.0.0.1', 6120)).toBe('http://127.0.0.1:6120');
    expect(devControllerUrl('0.0.0.0', 6120)).toBe('http://127.0.0.1:6120');
    expect(devControllerUrl('::', 6120)).toBe('http://127.0.0.1:6120');
    expect(devControllerUrl('::1', 6120)).toBe('http://[::1]:6120');
    expect(new URL(devControllerUrl('::1', 6120)).port).toBe('6120');
  });
});
