import { describe, expect, it } from '@jest/globals';
import { parseRoute, routeHref, vmHref } from './route';

describe('console routes', () => {
  it.each([
    ['', { page: 'vms' }],
    ['#/', { page: 'vms' }],
    ['#/vms', { page: 'vms' }],
    ['#/fleet', { page: 'fleet' }],
    ['#/nowhere', { page: 'vms' }],
    ['#/vms/v1', { page: 'vm', name: 'v1', tab: 'overview' }],
    ['#/vms/v1/', { page: 'vm', name: 'v1', tab: 'overview' }],
    ['#/vms/v1/terminal', { page: 'vm', name: 'v1', tab: 'terminal' }],
    ['#/vms/v1/screen', { page: 'vm', name: 'v1', tab: 'screen' }],
    ['#/vms/v1/ports', { page: 'vm', name: 'v1', tab: 'ports' }],
    ['#/vms/v1/bogus', { page: 'vm', name: 'v1', tab: 'overview' }],
    ['#/vms/a%3Ab.c', { page: 'vm', name: 'a:b.c', tab: 'overview' }],
    ['#/vms/bad%E0%A4%A/screen', { page: 'vm', name: 'bad%E0%A4%A', tab: 'screen' }],
  ])('reads %s', (hash, route) => {
    expect(parseRoute(hash)).toEqual(route);
  });

  it('writes the links it reads back', () => {
    for (const tab of ['overview', 'terminal', 'screen', 'ports'] as const) {
      const href = vmHref('ci:runner-1.x', tab);
      expect(parseRoute(href)).toEqual({ page: 'vm', name: 'ci:runner-1.x', tab });
    }
    expect(vmHref('v1')).toBe('#/vms/v1');
    expect(routeHref({ page: 'fleet' })).toBe('#/fleet');
    expect(routeHref({ page: 'vms' })).toBe('#/vms');
  });
});
