import { parseArgs } from 'node:util';
import {
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type Client,
  type ClientDuplexStream,
  type ServerDuplexStream,
} from '@grpc/grpc-js';
import { workerServiceClient, workerServiceDefinition, type TunnelFrame } from '@grove/proto';
import { enlargeServerWindows, GRPC_CLIENT_FLOW_CONTROL } from '@grove/tunnel';

/**
 * What the size of the tunnel's gRPC messages costs (issue 17): one Tunnel call on loopback between a grpc-js client
 * and server in this process (the worker's and the controller's ends, encoding and decoding TunnelFrames as the real
 * ones do), carrying `--mib` MiB of data frames of each size in turn. CPU time is this process's, both ends together,
 * per MiB moved: the per-message overhead of grpc-js and HTTP/2 shows as the difference between the sizes.
 *
 *   node e2e/dist/bench/tunnel-grpc-messages.bench.js [--mib 512] [--sizes 16,64,256,1024] [--runs 3]
 */
type ServerCall = ServerDuplexStream<TunnelFrame | undefined, TunnelFrame>;
type ClientCall = ClientDuplexStream<TunnelFrame, TunnelFrame | undefined>;

const MiB = 1024 * 1024;

async function startPair(): Promise<{
  calls: ServerCall[];
  client: Client & { Tunnel(m: Metadata): ClientCall };
  close(): void;
}> {
  const calls: ServerCall[] = [];
  const waiting: ((call: ServerCall) => void)[] = [];
  const server = new Server();
  enlargeServerWindows(server);
  server.addService(workerServiceDefinition(), {
    Session: () => undefined,
    Tunnel: (call: ServerCall) => (waiting.shift() ?? ((c: ServerCall) => calls.push(c)))(call),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  const ClientClass = workerServiceClient();
  const client = new ClientClass(
    `127.0.0.1:${port}`,
    credentials.createInsecure(),
    GRPC_CLIENT_FLOW_CONTROL,
  ) as unknown as Client & {
    Tunnel(m: Metadata): ClientCall;
  };
  return {
    calls,
    client,
    close: () => {
      client.close();
      server.forceShutdown();
    },
  };
}

/** Sends `bytes` in data frames of `size` from the client end and resolves once the server end has read them all. */
function transfer(pair: Awaited<ReturnType<typeof startPair>>, size: number, bytes: number): Promise<void> {
  const call = pair.client.Tunnel(new Metadata());
  return new Promise((resolve, reject) => {
    const serve = (server: ServerCall) => {
      let received = 0;
      server.on('data', (frame: TunnelFrame | undefined) => {
        if (frame?.kind === 'data') {
          received += frame.data.length;
          if (received >= bytes) {
            server.end();
            resolve();
          }
        }
      });
      server.on('error', reject);
    };
    const waitForCall = () => {
      const server = pair.calls.shift();
      if (server) {
        serve(server);
      } else {
        setImmediate(waitForCall);
      }
    };
    waitForCall();
    const payload = Buffer.alloc(size, 0x61);
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        const n = Math.min(size, bytes - sent);
        sent += n;
        if (!call.write({ kind: 'data', data: n === size ? payload : payload.subarray(0, n) })) {
          call.once('drain', pump);
          return;
        }
      }
      call.end();
    };
    call.on('error', () => undefined);
    pump();
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mib: { type: 'string', default: '512' },
      sizes: { type: 'string', default: '16,64,256,1024' },
      runs: { type: 'string', default: '3' },
    },
  });
  const bytes = Number(values.mib) * MiB;
  const sizes = values.sizes.split(',').map((kib) => Number(kib) * 1024);
  const runs = Number(values.runs);
  if (!(bytes > 0) || sizes.some((size) => !(size > 0)) || !(runs > 0)) {
    throw new Error('--mib, --sizes (KiB, comma-separated) and --runs must be positive numbers');
  }
  const pair = await startPair();
  console.log(`gRPC tunnel messages: ${values.mib} MiB per run, ${runs} runs per size, node ${process.version}`);
  console.log('');
  console.log('| data frame | MB/s (median) | CPU ms per MiB (median, both ends) |');
  console.log('|---|---|---|');
  try {
    await transfer(pair, 64 * 1024, 64 * MiB);
    for (const size of sizes) {
      const rates: number[] = [];
      const cpu: number[] = [];
      for (let run = 0; run < runs; run++) {
        const started = performance.now();
        const usage = process.cpuUsage();
        await transfer(pair, size, bytes);
        const used = process.cpuUsage(usage);
        rates.push(bytes / 1e6 / ((performance.now() - started) / 1000));
        cpu.push((used.user + used.system) / 1000 / (bytes / MiB));
      }
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
      console.log(`| ${size / 1024} KiB | ${median(rates).toFixed(0)} | ${median(cpu).toFixed(2)} |`);
    }
  } finally {
    pair.close();
  }
  console.log(
    `\nCommand: node e2e/dist/bench/tunnel-grpc-messages.bench.js --mib ${values.mib} --sizes ${values.sizes} --runs ${runs}`,
  );
}

main().then(
  () => process.exit(),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
