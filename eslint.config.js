// Lint, including the folder rules of ARCHITECTURE.md: they are enforced here, not by habit.
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'fs/*', 'path', 'os', 'child_process', 'worker_threads', 'crypto', 'http', 'https', 'net', 'stream', 'url', 'util', 'events', 'buffer', 'zlib', 'module', 'process'];

/** Patterns that `app/` must never import: the desktop shell, React, the DOM. */
const appForbidden = [
  { group: ['electron', 'electron/*'], message: 'app/ never imports electron: only main/electron does.' },
  { group: ['react', 'react/*', 'react-dom', 'react-dom/*', 'konva', 'konva/*', 'react-konva'], message: 'app/ never imports React or UI libraries.' },
  { group: ['**/renderer/**', '**/main/**'], message: 'app/ never imports from main/ or renderer/.' },
];

export const folderRules = [
  {
    files: ['app/**/*.ts'],
    languageOptions: { globals: { ...globals.node } },
    rules: {
      'no-restricted-imports': ['error', { patterns: appForbidden }],
      // DOM types: app/ code runs in Node or a worker, never in a page.
      'no-restricted-globals': ['error', 'window', 'document', 'navigator', 'HTMLElement', 'HTMLCanvasElement', 'localStorage'],
    },
  },
  {
    files: ['app/contract/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [...appForbidden, { regex: '^(?!zod(/|$)|\\./)', message: 'app/contract imports nothing but the schema library (zod) and its own files.' }] }],
    },
  },
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.tsx'],
    ignores: ['renderer/vite.config.ts'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.filter((n) => !n.includes('*')).map((name) => ({ name, message: 'renderer/ runs in a sandboxed page: no Node built-ins.' })),
          patterns: [
            { group: ['node:*', 'fs/*'], message: 'renderer/ runs in a sandboxed page: no Node built-ins.' },
            { group: ['electron', 'electron/*'], message: 'Only main/electron imports electron; the renderer talks through window.atelier.' },
            {
              group: ['**/app/*', '!**/app/contract', '!**/app/contract/*', '!**/app/projects', '!**/app/projects/document', '!**/app/projects/document/*'],
              message: 'renderer/ imports only app/contract (and the pure document model app/projects/document) from app/.',
            },
            { group: ['**/main/*'], message: 'renderer/ never imports main/.' },
          ],
        },
      ],
    },
  },
  {
    files: ['app/projects/document/**/*.ts'],
    rules: {
      // The document model runs in the renderer too: pure data and operations only.
      'no-restricted-imports': ['error', { patterns: [...appForbidden, { group: ['node:*', 'fs', 'path', 'better-sqlite3', 'onnxruntime-node', '**/engine/*', '**/library/*', '**/service/*'], message: 'app/projects/document is pure: it runs in the renderer as well.' }] }],
    },
  },
  {
    files: ['main/web/**/*.ts', 'main/cli/**/*.ts', 'tests/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', 'scripts/**/*.mjs'],
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // A regex, not a gitignore-style group: 'electron' as a group would also match the path
      // main/electron/…, whose pure modules the tests import on purpose.
      'no-restricted-imports': ['error', { patterns: [{ regex: '^electron(/|$)', message: 'Only main/electron imports electron.' }] }],
    },
  },
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'dist-electron/', 'release/', 'training/', 'tests/fixtures/', '.gpu/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-console': 'off',
    },
  },
  {
    files: ['renderer/**/*.tsx', 'renderer/**/*.ts'],
    plugins: { 'react-hooks': reactHooks },
    rules: { ...reactHooks.configs.recommended.rules },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { ...globals.node } },
  },
  ...folderRules,
);
