import { controllerArgs } from './controller.commands';

const io = { env: { GROVE_HOME: '/home/u/.grove' } };

describe('grove controller run → controller argv', () => {
  it('passes every flag through to the controller, defaults the data dir under GROVE_HOME', () => {
    expect(
      controllerArgs(
        'main.js',
        {
          listen: '127.0.0.1:6120',
          listenGrpc: 'off',
          listenSsh: '127.0.0.1:6122',
          insecureNoTls: true,
          swaggerUi: true,
          metricsPublic: true,
          logFormat: 'json',
          workerOfflineTimeout: '90s',
          execSessionRetentionTtl: '1m',
          replicaName: 'ctl-a',
          relayAddress: 'ctl-a.internal:6121',
          advertiseGrpcPort: '16121',
          shutdownGrace: '20s',
          workerPingInterval: '5s',
        },
        io,
      ),
    ).toEqual([
      'main.js',
      '--listen',
      '127.0.0.1:6120',
      '--data-dir',
      '/home/u/.grove/controller',
      '--listen-grpc',
      'off',
      '--listen-ssh',
      '127.0.0.1:6122',
      '--insecure-no-tls',
      '--swagger-ui',
      '--metrics-public',
      '--log-format',
      'json',
      '--worker-offline-timeout',
      '90s',
      '--exec-session-retention-ttl',
      '1m',
      '--replica-name',
      'ctl-a',
      '--relay-address',
      'ctl-a.internal:6121',
      '--advertise-grpc-port',
      '16121',
      '--shutdown-grace',
      '20s',
      '--worker-ping-interval',
      '5s',
    ]);
  });

  it('refuses a certificate without its key, and TLS files with --insecure-no-tls', () => {
    expect(() => controllerArgs('main.js', { listen: ':6120', tlsCert: 'c.pem' }, io)).toThrow(
      '--tls-cert and --tls-key must be given together',
    );
    expect(() =>
      controllerArgs('main.js', { listen: ':6120', tlsCert: 'c.pem', tlsKey: 'k.pem', insecureNoTls: true }, io),
    ).toThrow('--insecure-no-tls cannot be combined with --tls-cert/--tls-key');
  });
});
