import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import switchyard from './eslint-rules/index.js'

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A server must never drop a promise on the floor.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // fastify handlers and interface methods are async by contract even when they do not await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // The layers of src/ (the table is eslint-rules/layers.js) and files of one concept each.
    files: ['src/**/*.ts'],
    plugins: { switchyard },
    rules: {
      'switchyard/layers': ['error', { root: `${import.meta.dirname}/src` }],
      'switchyard/file-length': ['error', { max: 300 }],
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    // The dashboard: plain browser ES modules, served as they are (no build step).
    files: ['dashboard/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['document', 'sessionStorage', 'fetch', 'AbortController', 'TextDecoderStream', 'console', 'setTimeout', 'Node', 'window', 'location', 'history', 'URLSearchParams'].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
)
