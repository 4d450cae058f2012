import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateOpenApiDocument, serialiseOpenApiDocument } from './openapi-document';

describe('OpenAPI document', () => {
  let generated: string;

  beforeAll(async () => {
    generated = serialiseOpenApiDocument(await generateOpenApiDocument());
  });

  it('matches the committed apps/controller/openapi.json (run `npm run openapi` after API changes)', () => {
    const committed = readFileSync(join(__dirname, '..', 'openapi.json'), 'utf8');
    expect(generated).toBe(committed);
  });

  it('describes every operation and every schema property', () => {
    const doc = JSON.parse(generated);
    const undocumented: string[] = [];
    for (const [path, operations] of Object.entries<Record<string, { summary?: string }>>(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        if (!op.summary) {
          undocumented.push(`${method.toUpperCase()} ${path}`);
        }
      }
    }
    for (const [name, schema] of Object.entries<{ properties?: Record<string, { description?: string }> }>(
      doc.components.schemas,
    )) {
      for (const [prop, def] of Object.entries(schema.properties ?? {})) {
        if (!def.description) {
          undocumented.push(`${name}.${prop}`);
        }
      }
    }
    expect(undocumented).toEqual([]);
  });

  it('covers the Orchard v1 endpoints', () => {
    const paths = Object.keys(JSON.parse(generated).paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/v1',
        '/v1/controller/info',
        '/v1/cluster-settings',
        '/v1/service-accounts',
        '/v1/service-accounts/{name}',
        '/v1/workers',
        '/v1/workers/{name}',
        '/v1/vms',
        '/v1/vms/{name}',
        '/v1/vms/{name}/state',
        '/v1/vms/{name}/events',
      ]),
    );
  });
});
