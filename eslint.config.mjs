// `npm run lint`: typescript-eslint with the type-aware rules that catch a forgotten await, and, as Temporal's
// samples do, no Node built-ins (nor our database, network or config code) inside the workflow sandbox.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const nodeBuiltins = builtinModules.flatMap((name) => [name, `node:${name}`]);

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'test/fixtures/', '**/*.js', '**/*.mjs'] },
  {
    files: ['**/*.ts', '**/*.tsx'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended, prettier],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'prefer-const': 'error',
    },
  },
  {
    // The workflow sandbox: deterministic code only. Activity types come in with `import type`.
    files: ['workflows/**/*.ts', 'surface/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins,
          patterns: [{ group: ['**/src/**', '@mikro-orm/*', 'pg', 'nodemailer'], message: 'Workflows do no I/O: use an activity.', allowTypeImports: true }],
        },
      ],
    },
  },
);
