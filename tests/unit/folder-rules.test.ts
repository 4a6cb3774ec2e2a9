import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// Proves the folder rules of ARCHITECTURE.md fire: each snippet is linted as if it lived at
// the given path, with the project's own eslint.config.js.
const eslint = new ESLint({ cwd: process.cwd() });

async function ruleIds(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe('folder rules', () => {
  it.each([
    ['app/engine/x.ts', "import { app } from 'electron';\nexport const a = app;\n"],
    ['app/library/x.ts', "import React from 'react';\nexport const a = React;\n"],
    ['app/service/x.ts', "import { ipcMain } from 'electron/main';\nexport const a = ipcMain;\n"],
    ['app/contract/x.ts', "import fs from 'node:fs';\nexport const a = fs;\n"],
    ['app/contract/x.ts', "import { StudioService } from '../service/index.js';\nexport const a = StudioService;\n"],
    ['renderer/src/x.ts', "import fs from 'node:fs';\nexport const a = fs;\n"],
    ['renderer/src/x.ts', "import path from 'path';\nexport const a = path;\n"],
    ['renderer/src/x.ts', "import { ipcRenderer } from 'electron';\nexport const a = ipcRenderer;\n"],
    ['renderer/src/x.ts', "import { StudioService } from '../../app/service/index.js';\nexport const a = StudioService;\n"],
    ['main/web/x.ts', "import { app } from 'electron';\nexport const a = app;\n"],
    ['main/cli/x.ts', "import { app } from 'electron';\nexport const a = app;\n"],
  ])('refuses %s importing what it must not', async (filePath, code) => {
    expect(await ruleIds(filePath, code)).toContain('no-restricted-imports');
  });

  it('refuses DOM globals in app/', async () => {
    expect(await ruleIds('app/engine/x.ts', 'export const w = window.innerWidth;\n')).toContain('no-restricted-globals');
  });

  it.each([
    ['renderer/src/x.ts', "import { API_VERSION } from '../../app/contract/index.js';\nexport const a = API_VERSION;\n"],
    ['app/contract/x.ts', "import { z } from 'zod';\nexport const a = z.string();\n"],
    ['app/engine/x.ts', "import fs from 'node:fs';\nexport const a = fs;\n"],
  ])('allows %s its permitted imports', async (filePath, code) => {
    expect(await ruleIds(filePath, code)).not.toContain('no-restricted-imports');
  });
});
