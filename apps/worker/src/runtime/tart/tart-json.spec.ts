import { RuntimeError } from '../vm-runtime';
import { parseTartGetState, parseTartList } from './tart-json';

describe('parseTartList', () => {
  it('reads Name and Running of local VMs, Grove’s or not, and skips OCI cache entries', () => {
    const json = `[
      { "Source" : "local", "Name" : "grove-a-3f0c7c8e-1d2b-4c55-9a1e-0b7e2f6a9c11-0", "Disk" : 50, "Size" : 21,
        "Accessed" : "2026-05-12T21:45:18Z", "Running" : true, "State" : "running" },
      { "Source" : "local", "Name" : "my-tahoe", "Running" : false, "State" : "stopped" },
      { "Source" : "OCI", "Name" : "registry.grove.test/acme/macos-base:latest", "Running" : false }
    ]`;
    expect(parseTartList(json)).toEqual([
      { name: 'grove-a-3f0c7c8e-1d2b-4c55-9a1e-0b7e2f6a9c11-0', running: true },
      { name: 'my-tahoe', running: false },
    ]);
  });

  it('matches field names case-insensitively, as Go decodes them', () => {
    expect(parseTartList('[{"name":"x","running":true},{"NAME":"y","source":"oci"}]')).toEqual([
      { name: 'x', running: true },
    ]);
  });

  it('falls back to State when Running is missing', () => {
    expect(parseTartList('[{"Name":"a","State":"running"},{"Name":"b","State":"suspended"},{"Name":"c"}]')).toEqual([
      { name: 'a', running: true },
      { name: 'b', running: false },
      { name: 'c', running: false },
    ]);
  });

  it('reads an empty listing', () => {
    expect(parseTartList('[]\n')).toEqual([]);
  });

  it('rejects output that is not a JSON array', () => {
    expect(() => parseTartList('Source Name Disk')).toThrow(RuntimeError);
    expect(() => parseTartList('{}')).toThrow('tart list printed no JSON array');
  });
});

describe('parseTartGetState', () => {
  it('reads State in lower case', () => {
    expect(parseTartGetState('{ "OS" : "darwin", "State" : "suspended" }')).toBe('suspended');
    expect(parseTartGetState('{"state":"Running"}')).toBe('running');
    expect(parseTartGetState('{"OS":"linux"}')).toBeUndefined();
  });
});
