import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { tempHome } from '../test-support/fake-controller';
import { configPath, groveHome, loadConfig, saveConfig, type GroveConfig } from './config-file';
import { encodeCertificate, resolveConnection } from './connection';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('config file', () => {
  let home: ReturnType<typeof tempHome>;
  beforeEach(() => {
    home = tempHome();
  });
  afterEach(() => home.remove());

  it('lives in $GROVE_HOME/config.yml, else ~/.grove/config.yml', () => {
    expect(configPath({ GROVE_HOME: home.dir })).toBe(join(home.dir, 'config.yml'));
    expect(groveHome({})).toMatch(/\.grove$/);
  });

  it("round-trips contexts in Orchard's layout, private to the user, without temp files left behind", () => {
    const dir = join(home.dir, 'nested');
    const path = join(dir, 'config.yml');
    const config: GroveConfig = {
      defaultContext: 'prod',
      contexts: {
        prod: {
          url: 'https://c:6120',
          certificate: encodeCertificate(PEM),
          serviceAccountName: 'admin',
          serviceAccountToken: 't0k',
        },
        dev: { url: 'http://127.0.0.1:6120', serviceAccountName: 'bootstrap-admin', serviceAccountToken: 'x' },
      },
    };

    saveConfig(path, config);

    expect(loadConfig(path)).toEqual(config);
    expect(parse(readFileSync(path, 'utf8'))).toEqual({
      'default-context': 'prod',
      contexts: {
        dev: { url: 'http://127.0.0.1:6120', serviceAccountName: 'bootstrap-admin', serviceAccountToken: 'x' },
        prod: {
          url: 'https://c:6120',
          certificate: Buffer.from(PEM).toString('base64'),
          serviceAccountName: 'admin',
          serviceAccountToken: 't0k',
        },
      },
    });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir)).toEqual(['config.yml']);
  });

  it('replaces the file on every save', () => {
    const path = configPath({ GROVE_HOME: home.dir });
    saveConfig(path, { defaultContext: 'a', contexts: { a: { url: 'http://a:1' } } });
    saveConfig(path, { contexts: {} });
    expect(loadConfig(path)).toEqual({ contexts: {} });
  });

  it('treats a missing or empty file as no contexts', () => {
    const path = configPath({ GROVE_HOME: home.dir });
    expect(loadConfig(path)).toEqual({ contexts: {} });
    writeFileSync(path, '');
    expect(loadConfig(path)).toEqual({ contexts: {} });
  });

  it('names the file when it cannot be understood', () => {
    mkdirSync(home.dir, { recursive: true });
    const path = configPath({ GROVE_HOME: home.dir });
    writeFileSync(path, 'contexts: [1, 2');
    expect(() => loadConfig(path)).toThrow(`cannot parse ${path}`);
    writeFileSync(path, 'contexts:\n  prod:\n    serviceAccountName: a\n');
    expect(() => loadConfig(path)).toThrow(`cannot parse ${path}: context "prod" has no "url"`);
  });
});

describe('resolveConnection', () => {
  const config: GroveConfig = {
    defaultContext: 'prod',
    contexts: {
      prod: {
        url: 'https://prod:6120',
        certificate: encodeCertificate(PEM),
        serviceAccountName: 'admin',
        serviceAccountToken: 'p',
      },
      lab: { url: 'http://lab:6120', serviceAccountName: 'ci', serviceAccountToken: 'l' },
    },
  };

  it('uses the default context, decoding its pinned certificate', () => {
    expect(resolveConnection(config, {})).toEqual({
      url: 'https://prod:6120',
      contextName: 'prod',
      serviceAccountName: 'admin',
      serviceAccountToken: 'p',
      certificatePem: PEM,
    });
  });

  it('lets the environment override each field of the default context', () => {
    expect(
      resolveConnection(config, {
        GROVE_SERVICE_ACCOUNT_NAME: 'other',
        GROVE_SERVICE_ACCOUNT_TOKEN: 'o',
        GROVE_URL: '',
      }),
    ).toMatchObject({
      url: 'https://prod:6120',
      serviceAccountName: 'other',
      serviceAccountToken: 'o',
      certificatePem: PEM,
    });
  });

  it('drops the pinned certificate when GROVE_URL points elsewhere', () => {
    const connection = resolveConnection(config, { GROVE_URL: 'elsewhere' });
    expect(connection.url).toBe('https://elsewhere:6120');
    expect(connection.certificatePem).toBeUndefined();
    expect(connection.serviceAccountName).toBe('admin');
  });

  it('works from the environment alone', () => {
    expect(
      resolveConnection(
        { contexts: {} },
        { GROVE_URL: 'http://127.0.0.1:1234', GROVE_SERVICE_ACCOUNT_NAME: 'a', GROVE_SERVICE_ACCOUNT_TOKEN: 'b' },
      ),
    ).toEqual({ url: 'http://127.0.0.1:1234', serviceAccountName: 'a', serviceAccountToken: 'b' });
  });

  it('uses exactly the context named by --context, ignoring the environment', () => {
    expect(resolveConnection(config, { GROVE_URL: 'http://x:1', GROVE_SERVICE_ACCOUNT_TOKEN: 'z' }, 'lab')).toEqual({
      url: 'http://lab:6120',
      contextName: 'lab',
      serviceAccountName: 'ci',
      serviceAccountToken: 'l',
    });
  });

  it('explains what to do when nothing is configured', () => {
    expect(() => resolveConnection({ contexts: {} }, {})).toThrow('no context configured: run "grove context create');
  });

  it('lists the known contexts for an unknown --context, and is not fooled by Object.prototype names', () => {
    expect(() => resolveConnection(config, {}, 'staging')).toThrow(
      'context "staging" does not exist (known contexts: lab, prod)',
    );
    expect(() => resolveConnection(config, {}, 'toString')).toThrow('context "toString" does not exist');
  });
});
