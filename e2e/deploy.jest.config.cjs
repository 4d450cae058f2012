// The compose stage's Jest run (scripts/test-compose.sh): the e2e project's settings, with the deployment specs
// (src/deploy/*.deploy-spec.ts) instead of the e2e ones. They need the Docker daemon that script starts, so the
// workspace's own run (jest.config.cjs, whose e2e project matches *.e2e-spec.ts only) never picks them up, and they
// need no Postgres of the test run (the controller's is in a container): no global setup.
const workspace = require('../jest.config.cjs');

const e2e = workspace.projects.find((project) => project.displayName === 'e2e');

module.exports = {
  ...e2e,
  displayName: 'deploy',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/deploy/**/*.deploy-spec.ts'],
  // Containers start, restart and build on a loaded machine: each step waits for what it needs with its own bound.
  testTimeout: 300_000,
};
