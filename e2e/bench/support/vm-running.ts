import type { GroveClient } from '@grove/client';

/**
 * Creates VM `name` and follows its watch stream until its worker reports it `running`; resolves with the ms that took
 * (API → scheduler → worker → state report), throws when it fails instead.
 */
export async function createUntilRunning(client: GroveClient, name: string, image = 'any'): Promise<number> {
  const started = performance.now();
  const abort = new AbortController();
  const watch = client.vms.watch(name, { signal: abort.signal });
  await client.vms.create({ name, image });
  try {
    for await (const message of watch) {
      if (message.object.status === 'failed') {
        throw new Error(`VM ${name} failed: ${message.object.status_message}`);
      }
      if (message.object.status === 'running') {
        return performance.now() - started;
      }
    }
    throw new Error(`the watch of ${name} ended before it ran`);
  } finally {
    abort.abort();
  }
}
