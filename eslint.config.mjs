import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const APP_DEPS = ['type:domain', 'type:contract', 'type:infra', 'type:client'];

/** STYLE.md's layering; test code of any project may also use the test-support library. */
function boundaries(inTests) {
  const extra = inTests ? ['type:test-support'] : [];
  return [
    { sourceTag: 'type:app', onlyDependOnLibsWithTags: [...APP_DEPS, ...extra] },
    { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: [...APP_DEPS, 'type:test-support'] },
    { sourceTag: 'type:client', onlyDependOnLibsWithTags: ['type:domain', ...extra] },
    { sourceTag: 'type:infra', onlyDependOnLibsWithTags: ['type:domain', 'type:contract', ...extra] },
    { sourceTag: 'type:contract', onlyDependOnLibsWithTags: [...extra] },
    { sourceTag: 'type:test-support', onlyDependOnLibsWithTags: ['type:domain'] },
    {
      sourceTag: 'type:domain',
      onlyDependOnLibsWithTags: [...extra],
      bannedExternalImports: ['@nestjs/*', 'typeorm', '@grpc/*', 'pg', 'class-validator'],
    },
  ];
}

const SOURCE_RULES = {
  '@typescript-eslint/no-floating-promises': 'error',
  '@typescript-eslint/no-misused-promises': 'error',
  '@typescript-eslint/switch-exhaustiveness-check': 'error',
  '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
  '@typescript-eslint/no-explicit-any': 'error',
  '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
  '@nx/enforce-module-boundaries': ['error', { allow: [], depConstraints: boundaries(false) }],
};

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      '**/.nx/**',
      '**/*.cjs',
      '**/*.mjs',
      '**/bin/*.js',
      'libs/proto/src/gen/**',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    languageOptions: {
      parserOptions: {
        project: './tsconfig.typecheck.json',
        tsconfigRootDir: import.meta.dirname,
        // Lets consistent-type-imports leave alone the imports Nest needs as runtime values for injection.
        emitDecoratorMetadata: true,
        experimentalDecorators: true,
      },
    },
    rules: SOURCE_RULES,
  },
  {
    // The web console (issue 16) is browser code with its own compiler options (DOM, JSX for Preact).
    files: ['apps/console/**/*.ts', 'apps/console/**/*.tsx'],
    plugins: { '@nx': nx },
    languageOptions: {
      parserOptions: {
        project: './apps/console/tsconfig.json',
        tsconfigRootDir: import.meta.dirname,
        emitDecoratorMetadata: false,
        experimentalDecorators: false,
      },
    },
    rules: SOURCE_RULES,
  },
  {
    // The console's browser tests run code in the page (page.evaluate): their program has the DOM library.
    files: ['e2e/src/console/**/*.ts'],
    languageOptions: {
      parserOptions: { project: './e2e/src/console/tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', 'libs/testing/**/*.ts', '**/test-support/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': ['error', { allow: [], depConstraints: boundaries(true) }],
      // Tests poke at untyped JSON responses; the assertions are the type check there.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  prettier,
);
