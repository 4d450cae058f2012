import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** A fresh, empty database in the run's throwaway cluster. */
export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

function clusterUrl(): string {
  const url = process.env['GROVE_TEST_PG_URL'];
  if (!url) {
    throw new Error('GROVE_TEST_PG_URL is not set: run integration tests through the root jest config');
  }
  return url;
}

async function admin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: clusterUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a database with a random name; `drop()` terminates its connections and removes it. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(clusterUrl());
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () =>
      admin(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}
