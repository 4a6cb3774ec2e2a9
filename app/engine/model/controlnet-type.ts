import fs from 'node:fs';
import path from 'node:path';
import type { ControlType } from '../../contract/index.js';

// The kind of control map a ControlNet folder was trained on (docs/canvas.md, "Control types"),
// so the studio can refuse a Canny map for a scribble ControlNet instead of sending it. Read
// from its config.json: Atelier's own `conditioning` key (the starter's ControlNet has it),
// else diffusers' `_name_or_path` (lllyasviel/control_v11p_sd15_canny), else the folder's name
// (published ControlNets name their type there). null: it cannot be told.

const TYPE_WORDS: Array<[RegExp, ControlType]> = [
  [/scribble/i, 'scribble'],
  [/canny/i, 'canny'],
  [/lineart/i, 'lineart'],
  [/softedge|(^|[^a-z])(hed|pidi)([^a-z]|$)/i, 'softedge'],
  [/depth/i, 'depth'],
  [/openpose|(^|[^a-z])pose([^a-z]|$)/i, 'pose'],
];

/** The control type a name speaks of (`control_v11p_sd15_canny` → canny), or null. */
export function controlTypeFromName(name: string): ControlType | null {
  for (const [pattern, type] of TYPE_WORDS) if (pattern.test(name)) return type;
  return null;
}

export function readControlNetType(dir: string): ControlType | null {
  let config: { conditioning?: unknown; _name_or_path?: unknown } = {};
  try {
    config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as typeof config;
  } catch {
    // no readable config.json: the folder's name is all there is
  }
  if (typeof config.conditioning === 'string') {
    const own = controlTypeFromName(config.conditioning);
    if (own) return own;
  }
  if (typeof config._name_or_path === 'string') {
    const named = controlTypeFromName(config._name_or_path.split(/[\\/]/).slice(-2).join('/'));
    if (named) return named;
  }
  return controlTypeFromName(path.basename(path.resolve(dir)));
}
