import type { OpenAPIObject } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { createControllerApp } from './app';
import { dataSourceOptions } from './infra/database/data-source';
import { buildOpenApiDocument } from './openapi';
import { defaultControllerConfig } from './infra/config/controller-config';

/**
 * Generates the OpenAPI document without a database: the DataSource is never initialised because building the
 * document calls no repository.
 */
export async function generateOpenApiDocument(): Promise<OpenAPIObject> {
  const config = defaultControllerConfig({ schedulerIntervalMs: 0 });
  const dataSource = new DataSource(dataSourceOptions({ url: 'postgres://unused@127.0.0.1:1/unused' }));
  const app = await createControllerApp(config, dataSource, { logger: false });
  try {
    return buildOpenApiDocument(app);
  } finally {
    await app.close();
  }
}

/** The committed form: stable key order, two-space indent, trailing newline. */
export function serialiseOpenApiDocument(document: OpenAPIObject): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
