import fs from 'node:fs';
import path from 'node:path';
import { ApiError } from '../contract/index.js';

// What a ControlNet folder is, for `atelier models inspect` (models.inspect answers for model
// folders; a ControlNet folder has its graph at the top and no text encoder). The engine reads
// the graph's metadata only; no session is created.

export interface ControlNetSummary {
  kind: 'controlnet';
  path: string;
  /** Width of the text embedding it attends to (768 for SD 1.x). */
  textWidth: number;
  /** Residuals it adds: one per down block output, plus the mid block. */
  residuals: number;
  downResiduals: number;
  /** How the weight reaches the graph: a conditioning-scale input, or scaling the residuals. */
  conditioningScale: string;
  inputs: string[];
  outputs: string[];
}

/** A ControlNet folder: model.onnx at its top and no text_encoder/ beside it. */
export function isControlNetFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'model.onnx')) && !fs.existsSync(path.join(dir, 'text_encoder'));
}

export async function inspectControlNetFolder(dir: string): Promise<ControlNetSummary> {
  const { inspectControlNet } = await import('../engine/index.js');
  let cn: Awaited<ReturnType<typeof inspectControlNet>>;
  try {
    cn = await inspectControlNet(path.resolve(dir));
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError('invalid_model', `${path.resolve(dir)} is not a usable ControlNet: ${error instanceof Error ? error.message : String(error)}`, { part: '.' });
  }
  return {
    kind: 'controlnet',
    path: cn.dir,
    textWidth: cn.hiddenDim,
    residuals: cn.downOutputNames.length + 1,
    downResiduals: cn.downOutputNames.length,
    conditioningScale: cn.scaleName ? `${cn.scaleName} (${cn.scaleType})` : 'none (weight scales the residuals)',
    inputs: [cn.sampleName, cn.timestepName, cn.hiddenName, cn.condName, ...(cn.scaleName ? [cn.scaleName] : [])],
    outputs: [...cn.downOutputNames, cn.midOutputName],
  };
}
