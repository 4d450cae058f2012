// One Jest run for the whole workspace: specs are transpiled by swc (type checking is `npm run typecheck`).
// Nest 12 and cookie 2 are ESM-only, so they are transformed to CommonJS as well (stack.md §7).
const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
    keepClassNames: true,
  },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};

const esmPackages = [
  '@nestjs',
  'cookie',
  'file-type',
  'load-esm',
  'strtok3',
  'token-types',
  '@tokenizer',
  'uint8array-extras',
  // Not ESM, but the OTLP exporters load node:http with import(), which Jest's module registry only allows when
  // transformed (into a require).
  '@opentelemetry/otlp-exporter-base',
];

const base = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest', swc] },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
};

function project(dir, displayName, extra = {}) {
  const depth = dir.split('/').length;
  const up = '../'.repeat(depth);
  return {
    ...base,
    displayName,
    rootDir: `<rootDir>/${dir}`,
    moduleNameMapper: {
      '^@grove/(resources|proto|tunnel|telemetry|client|testing)$': `<rootDir>/${up}libs/$1/src/index.ts`,
      // The one browser-safe module the console imports at run time (the barrel pulls node:crypto).
      '^@grove/resources/(exec-output-order)$': `<rootDir>/${up}libs/resources/src/$1.ts`,
    },
    ...extra,
  };
}

const unit = { testMatch: ['<rootDir>/src/**/*.spec.ts'] };
// Integration and e2e tests start databases and processes; on a loaded 2-core machine a test that spawns a dozen
// processes needs more than Jest's 5 s default. Their own waits are bounded (waitFor timeouts).
const integration = {
  testMatch: ['<rootDir>/src/**/*.int-spec.ts', '<rootDir>/src/**/*.e2e-spec.ts'],
  testTimeout: 60_000,
};

module.exports = {
  projects: [
    project('libs/resources', 'resources', unit),
    project('libs/client', 'client', unit),
    project('libs/tunnel', 'tunnel', unit),
    project('libs/telemetry', 'telemetry', unit),
    project('libs/proto', 'proto', unit),
    project('libs/testing', 'testing', unit),
    project('apps/controller', 'controller', unit),
    project('apps/cli', 'cli', unit),
    project('apps/worker', 'worker', unit),
    project('apps/console', 'console', unit),
    project('apps/controller', 'controller:int', integration),
    project('apps/worker', 'worker:int', integration),
    project('e2e', 'e2e', integration),
  ],
  // Jest 30 reads testTimeout from the root config only (a project's own value is ignored); unit tests finish in
  // milliseconds either way.
  testTimeout: 60_000,
  // One throwaway Postgres cluster for the run; every integration test file makes its own database in it.
  globalSetup: '<rootDir>/libs/testing/src/global-setup.ts',
  globalTeardown: '<rootDir>/libs/testing/src/global-teardown.ts',
};
