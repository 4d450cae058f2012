import { resolveCredentials, vncUrl } from './credentials';

describe('resolveCredentials', () => {
  const vm = { username: 'ci', password: 'vm-secret' };

  it.each([
    ['no flags, VM without credentials', {}, { username: '', password: '' }, { username: 'admin', password: 'admin' }],
    ['no flags, no VM (a worker)', {}, undefined, { username: 'admin', password: 'admin' }],
    ["no flags: the VM's", {}, vm, { username: 'ci', password: 'vm-secret' }],
    ['only a VM username: ignored', {}, { username: 'ci', password: '' }, { username: 'admin', password: 'admin' }],
    ['only a VM password: ignored', {}, { username: '', password: 'x' }, { username: 'admin', password: 'admin' }],
    ['both flags win', { username: 'u', password: 'p' }, vm, { username: 'u', password: 'p' }],
    ['a username flag keeps the VM password', { username: 'u' }, vm, { username: 'u', password: 'vm-secret' }],
    ['a password flag keeps the VM username', { password: 'p' }, vm, { username: 'ci', password: 'p' }],
    ['a password flag without VM credentials', { password: 'p' }, undefined, { username: 'admin', password: 'p' }],
    ['empty flags count as absent', { username: '', password: '' }, vm, { username: 'ci', password: 'vm-secret' }],
  ])('%s', (_case, flags, vmCredentials, expected) => {
    expect(resolveCredentials(flags, vmCredentials)).toEqual(expected);
  });
});

describe('vncUrl', () => {
  it.each([
    [{ username: 'admin', password: 'admin' }, 'vnc://admin:admin@127.0.0.1:5901'],
    [{ username: 'a b', password: 'p@ss:w/rd' }, 'vnc://a%20b:p%40ss%3Aw%2Frd@127.0.0.1:5901'],
    [{ username: 'admin' }, 'vnc://admin@127.0.0.1:5901'],
    [{ password: 'alone' }, 'vnc://127.0.0.1:5901'],
    [{}, 'vnc://127.0.0.1:5901'],
  ])('%j', (login, url) => {
    expect(vncUrl('127.0.0.1', 5901, login)).toBe(url);
  });

  it('brackets an IPv6 host', () => {
    expect(vncUrl('::1', 5901)).toBe('vnc://[::1]:5901');
  });
});
