import { join } from 'node:path';

/** The repository root (this file is e2e/src/test-support/paths.ts). */
export const REPO_ROOT = join(__dirname, '..', '..', '..');

/** Built entry points; the e2e tests run what `npx tsc -b tsconfig.build.json` produced. */
export const CONTROLLER_MAIN = join(REPO_ROOT, 'apps', 'controller', 'dist', 'main.js');
export const CLI_MAIN = join(REPO_ROOT, 'apps', 'cli', 'dist', 'main.js');
