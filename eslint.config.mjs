import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.trustnet/', 'coverage/', 'bicep/compiled/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          // Time comes from runtime/clock.ts so the local host's virtual clock reaches every trigger.
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: 'Read the time through runtime/clock.ts (now/nowMs).',
        },
      ],
    },
  },
  {
    // The host owns the clock; tests and benchmarks measure real time.
    files: ['local/**', 'test/**', 'bench/**', '**/*.test.ts', 'runtime/clock.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
