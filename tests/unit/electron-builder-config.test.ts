import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv } from 'ajv';
import type { Configuration } from 'electron-builder';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';

// electron-builder.yml, checked against electron-builder's own JSON schema (the one it
// validates with at build time) and against what the desktop app needs: three platforms,
// native modules unpacked, the starter model as an extra resource, fuses set.

const require = createRequire(import.meta.url);
const schemaPath = path.join(path.dirname(require.resolve('app-builder-lib/package.json')), 'scheme.json');
const config = yaml.load(fs.readFileSync('electron-builder.yml', 'utf8')) as Configuration;

function validator() {
  const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8')) as object;
  // strict: false — the schema carries annotations (e.g. "tsType") that are not JSON Schema keywords.
  return new Ajv({ strict: false, allErrors: true }).compile(schema);
}

const targets = (platform: 'linux' | 'win' | 'mac') =>
  ((config[platform]?.target ?? []) as Array<string | { target: string }>).map((t) => (typeof t === 'string' ? t : t.target));

describe('electron-builder.yml', () => {
  it('matches electron-builder’s schema', () => {
    const validate = validator();
    expect(validate(config) ? [] : validate.errors).toEqual([]);
  });

  it('is refused by the same schema when it names an option that does not exist', () => {
    const validate = validator();
    expect(validate({ ...config, electronFuses: { ...config.electronFuses, runAsNodeEverywhere: true } })).toBe(false);
    expect(validate({ ...config, asarUnpacked: ['x'] })).toBe(false);
  });

  it('builds AppImage and deb, NSIS, and dmg', () => {
    expect(targets('linux')).toEqual(['AppImage', 'deb']);
    expect(targets('win')).toEqual(['nsis']);
    expect(targets('mac')).toEqual(['dmg']);
  });

  it('sets the fuses: no run-as-node, no NODE_OPTIONS, no inspect flags, asar integrity, asar only', () => {
    expect(config.electronFuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
    });
  });

  it('unpacks every native module the app loads, and rebuilds for Electron’s ABI', () => {
    expect(config.asar).toBe(true);
    const unpacked = config.asarUnpack as string[];
    for (const name of ['onnxruntime-node', 'better-sqlite3', 'sharp', '@img']) expect(unpacked).toContain(`node_modules/${name}/**`);
    expect(config.npmRebuild).toBe(true);
    const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
    for (const name of ['onnxruntime-node', 'better-sqlite3', 'sharp']) expect(Object.keys(pkg.dependencies)).toContain(name);
  });

  it('packs the bundles main.cjs needs, and ships the starter model outside the asar', () => {
    const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { main: string };
    expect(pkg.main).toBe('dist-electron/main.cjs');
    expect(config.files).toEqual(expect.arrayContaining(['package.json', 'dist-electron/**/*', 'dist/renderer/**/*']));
    expect(config.extraResources).toEqual([{ from: 'resources/models/starter', to: 'models/starter', filter: ['**/*'] }]);
  });

  it('opens .atelier files with the app', () => {
    expect(config.fileAssociations).toEqual([expect.objectContaining({ ext: 'atelier', mimeType: 'application/x-atelier-project' })]);
  });
});
