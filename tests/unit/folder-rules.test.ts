import fs from 'node:fs';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { beforeAll, describe, expect, it } from 'vitest';

// Proves the import table of docs/architecture.md ("Folders") is enforced: for every row, a
// snippet linted as if it lived in that folder is refused what the row forbids and allowed
// what it permits, with the project's own eslint.config.js. The first test checks that the
// rows here are exactly the rows of the document, so a new row needs a case here.
//
// Import rules need no types, so those snippets are linted without the TypeScript project
// (a made-up file name is not in any tsconfig). The type-aware habits are linted as the
// text of a real file of the project, which the project service then type-checks.
const withoutTypes = new ESLint({ cwd: process.cwd(), overrideConfig: [{ files: ['**/*.ts', '**/*.tsx'], ...tseslint.configs.disableTypeChecked }] });
const withTypes = new ESLint({ cwd: process.cwd() });

async function ruleIds(filePath: string, code: string, eslint = withoutTypes): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  const messages = result?.messages ?? [];
  // A parse error would hide every rule: fail on it rather than pass for the wrong reason.
  expect(messages.filter((m) => m.fatal).map((m) => m.message)).toEqual([]);
  return messages.map((m) => m.ruleId ?? m.message);
}

/** A file that exists in the project (and its tsconfig): the snippets below replace its text. */
const REAL_FILE = 'app/service/jobs.ts';

const importing = (specifier: string): string => `import * as imported from '${specifier}';\nexport const a = imported;\n`;

interface Row {
  /** Where the snippet pretends to live. */
  file: string;
  refused: string[];
  allowed: string[];
}

// The import specifiers are relative to `file`, as the real code writes them.
const rows: Record<string, Row> = {
  'app/contract': {
    file: 'app/contract/x.ts',
    refused: ['node:fs', 'pngjs', '../service/index.js', '../formats/index.js', 'electron'],
    allowed: ['zod', './errors.js'],
  },
  'app/formats': {
    file: 'app/formats/x.ts',
    refused: ['../library/index.js', '../engine/index.js', '../projects/export.js', '../service/index.js', 'react'],
    allowed: ['../contract/generation.js', 'pngjs', 'node:zlib', './png-metadata.js'],
  },
  'app/engine': {
    file: 'app/engine/model/x.ts',
    refused: ['../../library/index.js', '../../projects/export.js', '../../service/index.js', 'electron'],
    allowed: ['../../contract/index.js', '../../formats/index.js', 'onnxruntime-node', '../pipeline/types.js'],
  },
  'app/library': {
    file: 'app/library/x.ts',
    refused: ['../engine/index.js', '../projects/session.js', '../service/index.js', '../../renderer/src/App.js'],
    allowed: ['../contract/library.js', '../formats/stamp.js', 'better-sqlite3', './schema.js'],
  },
  'app/projects': {
    file: 'app/projects/x.ts',
    refused: ['../library/index.js', '../library/interchange.js', '../engine/image.js', '../service/index.js'],
    allowed: ['../contract/projects.js', '../formats/stamp.js', 'ag-psd', './document/index.js'],
  },
  'app/projects/document': {
    file: 'app/projects/document/x.ts',
    refused: ['node:fs', 'sharp', '../render.js', '../../formats/index.js', '../../library/index.js'],
    allowed: ['../../contract/projects.js', './operations.js', 'zod'],
  },
  'app/service': {
    file: 'app/service/x.ts',
    refused: ['electron', 'react', '../../main/web/server.js'],
    allowed: ['../engine/client.js', '../library/index.js', '../projects/session.js', '../formats/index.js', '../contract/index.js'],
  },
  'main/cli': {
    file: 'main/cli/x.ts',
    refused: ['../../app/engine/index.js', '../../app/library/index.js', '../../app/projects/export.js', '../../app/formats/stamp.js', 'electron', '../../renderer/src/App.js'],
    allowed: ['../../app/contract/index.js', '../../app/service/index.js', 'commander'],
  },
  'main/web': {
    file: 'main/web/x.ts',
    refused: ['../../app/engine/index.js', '../../app/library/index.js', '../../app/projects/session.js', '../../app/formats/index.js', 'electron/main'],
    allowed: ['../../app/contract/index.js', '../../app/service/index.js', 'fastify'],
  },
  'main/electron': {
    file: 'main/electron/x.ts',
    refused: ['../../app/engine/worker/protocol.js', '../../app/library/index.js', '../../app/projects/session.js', '../../app/formats/index.js'],
    allowed: ['../../app/contract/index.js', '../../app/service/index.js', 'electron'],
  },
  renderer: {
    file: 'renderer/src/x.ts',
    refused: ['node:fs', 'path', 'electron', '../../app/service/index.js', '../../app/library/index.js', '../../app/formats/index.js', '../../app/projects/export.js', '../../main/web/server.js'],
    allowed: ['../../app/contract/index.js', '../../app/projects/document/index.js', 'react'],
  },
  'tests, bench, scripts': {
    file: 'tests/unit/x.ts',
    refused: ['electron'],
    allowed: ['../../app/engine/index.js', '../../app/library/index.js', '../../main/electron/policy.js', 'node:fs'],
  },
};

/** The folder column of the import table in docs/architecture.md. */
function documentedRows(): string[] {
  const doc = fs.readFileSync('docs/architecture.md', 'utf8');
  const table = doc.slice(doc.indexOf('<!-- import-table'));
  const lines = table.split('\n').slice(1);
  const rowsOfTable = lines.slice(0, lines.findIndex((l, i) => i > 0 && !l.startsWith('|')));
  return rowsOfTable
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.split('|')[1]!.trim().replaceAll('`', ''));
}

describe('folder rules of docs/architecture.md', () => {
  it('has a case for every row of the import table, and no other', () => {
    expect(documentedRows().sort()).toEqual(Object.keys(rows).sort());
  });

  for (const [folder, row] of Object.entries(rows)) {
    it.each(row.refused)(`${folder} may not import %s`, async (specifier) => {
      expect(await ruleIds(row.file, importing(specifier))).toContain('no-restricted-imports');
    });
    it.each(row.allowed)(`${folder} may import %s`, async (specifier) => {
      expect(await ruleIds(row.file, importing(specifier))).not.toContain('no-restricted-imports');
    });
  }

  it('refuses DOM globals in app/', async () => {
    expect(await ruleIds('app/engine/x.ts', 'export const w = window.innerWidth;\n')).toContain('no-restricted-globals');
  });
});

describe('lint habits of docs/architecture.md', () => {
  // The first typed lint builds the TypeScript program of tsconfig.node.json: seconds, more
  // on a loaded machine. Built once here, with room, so each case below is quick.
  beforeAll(async () => {
    await withTypes.lintText('export {};\n', { filePath: REAL_FILE });
  }, 120_000);

  it('refuses a promise nobody awaits, and takes one marked void', async () => {
    const start = 'async function later(): Promise<void> {}\n';
    expect(await ruleIds(REAL_FILE, `${start}later();\n`, withTypes)).toContain('@typescript-eslint/no-floating-promises');
    expect(await ruleIds(REAL_FILE, `${start}void later();\n`, withTypes)).not.toContain('@typescript-eslint/no-floating-promises');
  });

  it.each([
    ['an empty catch block', 'export function f(g: () => void): void {\n  try {\n    g();\n  } catch {}\n}\n', 'no-empty'],
    ['.catch(() => undefined)', 'export const p = Promise.resolve(1).catch(() => undefined);\n', 'atelier/no-silent-catch'],
    ['.catch(() => {})', 'export const p = Promise.resolve(1).catch(() => {});\n', 'atelier/no-silent-catch'],
    ['.then(f, () => null)', 'export const p = Promise.resolve(1).then((n) => n, () => null);\n', 'atelier/no-silent-catch'],
  ])('refuses an error dropped without a word: %s', async (_what, code, rule) => {
    expect(await ruleIds(REAL_FILE, code, withTypes)).toContain(rule);
  });

  it.each([
    ['a catch block that says why', 'export function f(g: () => void): void {\n  try {\n    g();\n  } catch {\n    // g is a hint; without it we carry on\n  }\n}\n'],
    ['a comment above the .catch', '// the probe is optional: a missing file means no hint\nexport const p = Promise.resolve(1).catch(() => undefined);\n'],
    ['a comment on its line', 'export const p = Promise.resolve(1).catch(() => undefined); // optional probe\n'],
    ['a handler that handles it', 'export const p = Promise.resolve(1).catch((e: unknown) => console.error(e));\n'],
  ])('takes %s', async (_what, code) => {
    const ids = await ruleIds(REAL_FILE, code, withTypes);
    expect(ids).not.toContain('no-empty');
    expect(ids).not.toContain('atelier/no-silent-catch');
  });
});
