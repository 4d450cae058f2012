import { describe, expect, it } from '@jest/globals';
import { EMPTY_DRAFT, FieldError, toCreateBody, type Draft } from './vm-create-body';

const draft = (fields: Partial<Draft>): Draft => ({ ...EMPTY_DRAFT, name: 'v1', image: 'any', ...fields });

describe('the create form body', () => {
  it("sends the defaults as Orchard's fields, leaving empty numbers to the API", () => {
    expect(toCreateBody(draft({ name: ' v1 ', image: ' ghcr.io/x:1 ' }))).toEqual({
      name: 'v1',
      image: 'ghcr.io/x:1',
      imagePullPolicy: 'IfNotPresent',
      headless: true,
      nested: false,
      suspendable: false,
      restart_policy: 'Never',
    });
  });

  it('sends every field that was filled in', () => {
    const body = toCreateBody(
      draft({
        cpu: '4',
        memory: '8192',
        diskSize: '60',
        imagePullPolicy: 'Always',
        network: 'bridged',
        bridged: 'en0',
        headless: false,
        nested: true,
        suspendable: true,
        restartPolicy: 'OnFailure',
        username: 'ci',
        password: 'secret',
        labels: 'team=ios',
        resources: 'gpu=1',
        hostDirs: 'cache:/var/cache:ro\nsrc:https://example.invalid/src.tar.gz',
        startupScript: 'echo hi',
      }),
    );
    expect(body).toEqual({
      name: 'v1',
      image: 'any',
      cpu: 4,
      memory: 8192,
      diskSize: 60,
      imagePullPolicy: 'Always',
      'net-bridged': 'en0',
      headless: false,
      nested: true,
      suspendable: true,
      restart_policy: 'OnFailure',
      username: 'ci',
      password: 'secret',
      labels: { team: 'ios' },
      resources: { gpu: 1 },
      hostDirs: [
        { name: 'cache', path: '/var/cache', ro: true },
        { name: 'src', path: 'https://example.invalid/src.tar.gz', ro: false },
      ],
      startup_script: { script_content: 'echo hi' },
    });
    expect(toCreateBody(draft({ network: 'softnet' }))['net-softnet']).toBe(true);
    expect(
      toCreateBody(
        draft({ network: 'softnet', softnetAllow: '10.0.0.0/8, 192.168.0.0/16', softnetBlock: '0.0.0.0/0' }),
      ),
    ).toMatchObject({ netSoftnetAllow: ['10.0.0.0/8', '192.168.0.0/16'], netSoftnetBlock: ['0.0.0.0/0'] });
    expect(toCreateBody(draft({ randomSerial: true, audio: true, clipboard: true }))).toMatchObject({
      randomSerial: true,
      audio: true,
      clipboard: true,
    });
    expect(toCreateBody(draft({ softnetAllow: '10.0.0.0/8' })).netSoftnetAllow).toBeUndefined();
  });

  it('leaves range checks to the API (its 400 names the field) but refuses what is not a number at all', () => {
    expect(toCreateBody(draft({ cpu: '-1' })).cpu).toBe(-1);
    expect(() => toCreateBody(draft({ memory: '8 GB' }))).toThrow('Memory: "8 GB" is not a whole number');
    expect(() => toCreateBody(draft({ resources: 'gpu=lots' }))).toThrow('Resources gpu: "lots" is not a whole number');
    expect(() => toCreateBody(draft({ resources: 'gpu=' }))).toThrow('Resources: gpu needs an amount');
    expect(() => toCreateBody(draft({ hostDirs: 'cache' }))).toThrow('Host directories: "cache" is not NAME:PATH[:ro]');
    expect(() => toCreateBody(draft({ labels: 'ios' }))).toThrow('Labels: "ios" is not KEY=VALUE');
  });

  it('says which API field a refused input is', () => {
    const fieldOf = (d: Partial<Draft>) => {
      try {
        toCreateBody(draft(d));
      } catch (err) {
        return err instanceof FieldError ? err.field : 'not a FieldError';
      }
      return 'accepted';
    };
    expect(fieldOf({ memory: 'x' })).toBe('memory');
    expect(fieldOf({ diskSize: '1.5' })).toBe('diskSize');
    expect(fieldOf({ labels: 'ios' })).toBe('labels');
    expect(fieldOf({ resources: 'gpu=' })).toBe('resources');
    expect(fieldOf({ hostDirs: 'x' })).toBe('hostDirs');
    expect(fieldOf({})).toBe('accepted');
  });
});
