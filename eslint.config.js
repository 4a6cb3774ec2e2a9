// Lint, including the import table of docs/architecture.md ("Folders"): every row is enforced
// here, not by habit, and tests/unit/folder-rules.test.ts proves each one fires.
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'fs/*', 'path', 'os', 'child_process', 'worker_threads', 'crypto', 'http', 'https', 'net', 'stream', 'url', 'util', 'events', 'buffer', 'zlib', 'module', 'process'];

// Imports inside app/ are relative, so "app/X imports app/Y" reads as a chain of ../ ending in
// the folder name Y. The folder names are unique under app/, which keeps these exact.
const reachesInto = (folders) => `^(\\.\\./)+(${folders.join('|')})(/|$)`;

/** What no file under app/ may import: the desktop shell, React, the DOM, the doors, the UI. */
const appForbidden = [
  { group: ['electron', 'electron/*'], message: 'app/ never imports electron: only main/electron does.' },
  { group: ['react', 'react/*', 'react-dom', 'react-dom/*', 'konva', 'konva/*', 'react-konva'], message: 'app/ never imports React or UI libraries.' },
  { group: ['**/renderer/**', '**/main/**'], message: 'app/ never imports from main/ or renderer/.' },
];

/** The doors (main/cli, main/web, main/electron) reach the core only through the contract and the service. */
const doorForbidden = [
  { regex: '^(\\.\\./)+app/(?!(contract|service)(/|$))', message: 'A door imports only app/contract and app/service: generation, the library and projects are reached through the StudioService (docs/architecture.md).' },
  { group: ['**/renderer/**'], message: 'A door never imports the renderer: it serves the built UI as files.' },
];

const onlyElectronImportsElectron = { regex: '^electron(/|$)', message: 'Only main/electron imports electron.' };

/** One row of the table: the folder's files and the patterns they must not import. */
const row = (files, patterns, extra = {}) => ({ files, ...extra, rules: { 'no-restricted-imports': ['error', { patterns }] } });

// ESLint applies the last matching config's options for a rule, so each row lists all of its
// patterns, and the more specific folders (app/projects/document) come after their parents.
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
  row(['app/contract/**/*.ts'], [...appForbidden, { regex: '^(?!zod(/|$)|\\./)', message: 'app/contract imports nothing but the schema library (zod) and its own files.' }]),
  row(['app/formats/**/*.ts'], [...appForbidden, { regex: reachesInto(['engine', 'library', 'projects', 'service']), message: 'app/formats holds pure file formats: it imports only app/contract (and npm libraries).' }]),
  row(['app/engine/**/*.ts'], [...appForbidden, { regex: reachesInto(['library', 'projects', 'service']), message: 'app/engine imports only app/contract and app/formats: the service composes it with the library and projects.' }]),
  row(['app/library/**/*.ts'], [...appForbidden, { regex: reachesInto(['engine', 'projects', 'service']), message: 'app/library imports only app/contract and app/formats: the service composes it with the engine and projects.' }]),
  row(['app/projects/**/*.ts'], [...appForbidden, { regex: reachesInto(['engine', 'library', 'service']), message: 'app/projects imports only app/contract and app/formats: shared file formats live in app/formats.' }]),
  row(
    ['app/projects/document/**/*.ts'],
    [
      ...appForbidden,
      // The document model runs in the renderer too: pure data and operations only.
      { group: ['node:*', 'fs', 'path', 'better-sqlite3', 'onnxruntime-node', 'sharp', 'pngjs'], message: 'app/projects/document is pure: it runs in the renderer as well.' },
      { regex: '^\\.\\./(?!\\.\\./contract(/|$))', message: 'app/projects/document imports only app/contract and its own files: it runs in the renderer as well.' },
    ],
  ),
  // app/service composes everything under app/: only appForbidden applies.
  row(['main/cli/**/*.ts', 'main/web/**/*.ts'], [onlyElectronImportsElectron, ...doorForbidden], { languageOptions: { globals: { ...globals.node } } }),
  row(['main/electron/**/*.ts'], doorForbidden, { languageOptions: { globals: { ...globals.node } } }),
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
              // A regex: gitignore-style negations re-included all of app/projects with its document folder.
              regex: '^(\\.\\./)+app/(?!contract(/|$)|projects/document(/|$))',
              message: 'renderer/ imports only app/contract (and the pure document model app/projects/document) from app/.',
            },
            { group: ['**/main/*'], message: 'renderer/ never imports main/.' },
          ],
        },
      ],
    },
  },
  // Tests, benchmarks and scripts may import anything but electron. A regex, not a
  // gitignore-style group: 'electron' as a group would also match the path main/electron/…,
  // whose pure modules the tests import on purpose.
  row(['tests/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', 'scripts/**/*.mjs'], [onlyElectronImportsElectron], { languageOptions: { globals: { ...globals.node } } }),
];

/**
 * Errors are never dropped without a reason: an empty `catch {}` (no-empty) or a
 * `.catch(() => undefined)` must carry a comment saying why nothing is done.
 */
const swallowedErrors = {
  files: ['**/*.ts', '**/*.tsx'],
  plugins: { atelier: { rules: { 'no-silent-catch': noSilentCatch() } } },
  rules: { 'no-empty': ['error', { allowEmptyCatch: false }], 'atelier/no-silent-catch': 'error' },
};

/**
 * `.catch(() => undefined)` or `.then(f, () => undefined)` (or `{}`, `null`, `void …`) passes only with a comment inside the
 * handler, or on (or just above) the line of `.catch`/`.then` or of the handler: the why sits
 * next to the drop.
 */
function noSilentCatch() {
  const dropsIt = (fn) =>
    (fn.type === 'ArrowFunctionExpression' || fn.type === 'FunctionExpression') &&
    (fn.body.type === 'BlockStatement'
      ? fn.body.body.length === 0
      : (fn.body.type === 'Identifier' && fn.body.name === 'undefined') || (fn.body.type === 'Literal' && fn.body.value === null) || (fn.body.type === 'UnaryExpression' && fn.body.operator === 'void'));
  return {
    meta: {
      type: 'problem',
      docs: { description: 'A rejection dropped by an empty .catch handler must say why, in a comment beside it.' },
      messages: { silent: 'This .catch drops the error: handle it (log, record, rethrow) or say in a comment beside it why it may be ignored.' },
      schema: [],
    },
    create(context) {
      const source = context.sourceCode;
      return {
        CallExpression(node) {
          const callee = node.callee;
          if (callee.type !== 'MemberExpression' || callee.property.type !== 'Identifier') return;
          // .catch(onRejected) and .then(onFulfilled, onRejected)
          const handler = callee.property.name === 'catch' ? node.arguments[0] : callee.property.name === 'then' ? node.arguments[1] : undefined;
          if (!handler || !dropsIt(handler)) return;
          const lines = new Set([callee.property.loc.start.line, handler.loc.start.line]);
          const explained = source
            .getAllComments()
            .some((c) => (c.range[0] >= handler.range[0] && c.range[1] <= handler.range[1]) || lines.has(c.loc.start.line) || lines.has(c.loc.end.line + 1));
          if (!explained) context.report({ node: handler, messageId: 'silent' });
        },
      };
    },
  };
}

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'dist-electron/', 'release/', 'training/', 'tests/fixtures/', '.gpu/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    // Type-aware rules: each file is checked with the tsconfig that owns it (tsconfig.node.json,
    // renderer/tsconfig.json, main/electron/tsconfig.json), found by the TypeScript project service.
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // A promise nobody awaits loses its rejection: await it, return it, or mark it `void`
      // with a comment saying who handles its failure.
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: true }],
      'no-console': 'off',
    },
  },
  swallowedErrors,
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
