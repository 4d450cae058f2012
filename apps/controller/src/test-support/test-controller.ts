import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createTestDatabase, type TestDatabase } from '@grove/testing';
import type { DataSource } from 'typeorm';
import { createControllerApp } from '../app';
import { defaultControllerConfig, type ControllerConfig } from '../infra/config/controller-config';
import { openDataSource } from '../infra/database/data-source';
import { ServiceAccountService } from '../service-accounts/service-account.service';

export const ADMIN_TOKEN = 'admin-token-for-tests';

export function testConfig(overrides: Partial<ControllerConfig> = {}): ControllerConfig {
  return defaultControllerConfig({
    dataDir: '/nonexistent',
    bootstrapAdminToken: ADMIN_TOKEN,
    // Most tests drive VM state by hand; the scheduler tests turn it on.
    schedulerIntervalMs: 0,
    ...overrides,
  });
}

export function basic(name: string, token: string): string {
  return `Basic ${Buffer.from(`${name}:${token}`).toString('base64')}`;
}

export const ADMIN = basic('bootstrap-admin', ADMIN_TOKEN);

export interface TestResponse {
  status: number;
  body: any;
  headers: Record<string, unknown>;
}

/** A controller on a fresh database of the run's Postgres cluster, driven in-process through `inject`. */
export class TestController {
  private constructor(
    readonly app: NestFastifyApplication,
    readonly dataSource: DataSource,
    private readonly db: TestDatabase,
    /** What bootstrapping printed: the generated or configured admin token. */
    readonly bootstrap: { token: string; generated: boolean } | undefined,
  ) {}

  static async start(overrides: Partial<ControllerConfig> = {}): Promise<TestController> {
    const db = await createTestDatabase();
    const dataSource = await openDataSource({ url: db.url }, 5);
    const config = testConfig(overrides);
    const app = await createControllerApp(config, dataSource, {
      logger: process.env['GROVE_TEST_LOGS'] ? undefined : false,
    });
    const bootstrap = await app.get(ServiceAccountService).bootstrap(config.bootstrapAdminToken);
    return new TestController(app, dataSource, db, bootstrap);
  }

  async request(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    options: { body?: unknown; auth?: string | null; rawBody?: string } = {},
  ): Promise<TestResponse> {
    const headers: Record<string, string> = {};
    const auth = options.auth === undefined ? ADMIN : options.auth;
    if (auth !== null) {
      headers['authorization'] = auth;
    }
    let payload: string | undefined;
    if (options.rawBody !== undefined) {
      payload = options.rawBody;
      headers['content-type'] = 'application/json';
    } else if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const res = await this.app.inject({ method, url, headers, payload });
    let body: unknown = res.body;
    if (res.body !== '' && String(res.headers['content-type'] ?? '').includes('json')) {
      body = JSON.parse(res.body);
    }
    return { status: res.statusCode, body, headers: res.headers };
  }

  async createAccount(name: string, roles: string[]): Promise<string> {
    const res = await this.request('POST', '/v1/service-accounts', { body: { name, roles } });
    if (res.status !== 200) {
      throw new Error(`creating service account failed: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return basic(name, res.body.token);
  }

  async close(): Promise<void> {
    await this.app.close();
    await this.dataSource.destroy();
    await this.db.drop();
  }
}
