import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['build/', 'dist/', 'node_modules/', 'coverage/', '.tmp/', 'test-artifacts/', '**/*.js', '!scripts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  // The daemon (agent/) and the generator (library-gen/) share only the contract in catalog/;
  // the contract imports neither. A name both sides need moves into catalog/.
  {
    files: ['agent/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/library-gen', '**/library-gen/**'], message: 'agent/ may import catalog/, never library-gen/: move the shared name into catalog/' }] }] },
  },
  {
    files: ['library-gen/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/agent', '**/agent/**'], message: 'library-gen/ may import catalog/, never agent/: move the shared name into catalog/' }] }] },
  },
  {
    files: ['catalog/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/agent', '**/agent/**', '**/library-gen', '**/library-gen/**'], message: 'catalog/ is the contract both sides import: it imports neither agent/ nor library-gen/' }] }] },
  },
  {
    files: ['scripts/**/*.mjs', 'bench/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly' } },
  },
);
