import { writeFileSync } from 'node:fs';
import { generateOpenApiDocument, serialiseOpenApiDocument } from './openapi-document';

/** `npm run openapi`: rewrites apps/controller/openapi.json from the code. */
async function main(): Promise<void> {
  const target = process.argv[2];
  if (!target) {
    throw new Error('usage: openapi-cli <output file>');
  }
  writeFileSync(target, serialiseOpenApiDocument(await generateOpenApiDocument()));
  console.log(`wrote ${target}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
