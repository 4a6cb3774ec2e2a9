import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { controlTypeFromName, readControlNetType } from '../../app/engine/model/controlnet-type.js';
import { inspectModel } from '../../app/engine/index.js';

// The control map a ControlNet takes, as the engine reports it in ModelInfo.controlnetTypes
// (app/engine/model/controlnet-type.ts): config.json's conditioning, its _name_or_path, the
// folder's name, in that order.

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-cn-type-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function folder(name: string, config?: Record<string, unknown>): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  if (config) fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

describe('readControlNetType', () => {
  it('reads config.json first, then _name_or_path, then the folder name', () => {
    expect(readControlNetType(folder('plain-canny-named', { conditioning: 'scribble' }))).toBe('scribble');
    expect(readControlNetType(folder('net-a', { _name_or_path: 'lllyasviel/control_v11f1p_sd15_depth' }))).toBe('depth');
    expect(readControlNetType(folder('control_v11p_sd15_openpose'))).toBe('pose');
    expect(readControlNetType(folder('sd-controlnet-hed', { _class_name: 'ControlNetModel' }))).toBe('softedge');
    expect(readControlNetType(folder('my-net', { _class_name: 'ControlNetModel' }))).toBeNull();
  });

  it('matches type words, not parts of other words', () => {
    expect(controlTypeFromName('control_v11p_sd15_lineart')).toBe('lineart');
    expect(controlTypeFromName('purpose-built')).toBeNull();
  });

  it('the starter model reports its ControlNet as a scribble one', async () => {
    const info = await inspectModel(path.resolve('resources/models/starter'));
    expect(info.controlnets.length).toBeGreaterThan(0);
    expect(Object.values(info.controlnetTypes ?? {})).toEqual(info.controlnets.map(() => 'scribble'));
  });
});
