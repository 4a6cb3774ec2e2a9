import fs from 'node:fs';
import path from 'node:path';
import { InvalidModelError } from './errors.js';
import { type GraphReader, STANDARD_PARTS, find, needed, staticDim, tensorInputs, tensorOutputs } from './graph-io.js';
import type { ControlNetLayout } from './layout.js';
import { orderResiduals } from './unet-layout.js';

// A ControlNet is its own folder (model.onnx at its root, or in controlnet/): sample, timestep,
// text hidden states and controlnet_cond in, one residual per UNet down block plus the mid
// block out. conditioning_scale is fed only when the graph has it; SDXL ControlNets take
// text_embeds and time_ids as the SDXL UNet does.

/** Reads a ControlNet folder (model.onnx at its root, or in controlnet/). */
export async function readControlNetLayout(dirIn: string, read: GraphReader): Promise<ControlNetLayout> {
  const dir = path.resolve(dirIn);
  const label = path.basename(dir);
  if (!fs.existsSync(dir)) throw new InvalidModelError(label, `ControlNet folder ${dirIn} does not exist`);
  const rel = fs.existsSync(path.join(dir, 'model.onnx')) ? 'model.onnx' : fs.existsSync(path.join(dir, 'controlnet/model.onnx')) ? 'controlnet/model.onnx' : undefined;
  if (!rel) throw new InvalidModelError(`${label}/model.onnx`, `ControlNet ${label}/model.onnx is missing`);
  const part = `${label}/${rel}`;
  const io = await read(path.join(dir, rel), part);
  const ins = tensorInputs(io);
  const outs = tensorOutputs(io);
  const sample = needed(find(ins, ['sample']), part, 'sample input');
  const timestep = needed(find(ins, ['timestep', 'timesteps']), part, 'timestep input');
  const hidden = needed(find(ins, ['encoder_hidden_states']), part, 'encoder_hidden_states input');
  const cond = needed(find(ins, ['controlnet_cond']), part, 'controlnet_cond input (not a ControlNet?)');
  const scale = find(ins, ['conditioning_scale']);
  const textEmbeds = find(ins, ['text_embeds']);
  const timeIds = find(ins, ['time_ids']);
  if ((textEmbeds === undefined) !== (timeIds === undefined)) throw new InvalidModelError(part, `${part} takes one of text_embeds and time_ids without the other`);
  const hiddenDim = needed(staticDim(hidden, 2), part, 'fixed encoder_hidden_states width');
  const { down, mid } = orderResiduals(outs.map((m) => m.name));
  if (down.length === 0 || mid === undefined) throw new InvalidModelError(part, `${part} has no residual outputs`);
  return {
    dir,
    file: path.join(dir, rel),
    sampleName: sample.name,
    sampleType: sample.type,
    timestepName: timestep.name,
    timestepType: timestep.type,
    timestepRank: timestep.shape.length,
    hiddenName: hidden.name,
    hiddenType: hidden.type,
    hiddenDim,
    condName: cond.name,
    condType: cond.type,
    ...(scale ? { scaleName: scale.name, scaleType: scale.type, scaleRank: scale.shape.length } : {}),
    ...(textEmbeds && timeIds
      ? { added: { textEmbedsName: textEmbeds.name, textEmbedsType: textEmbeds.type, textEmbedsDim: staticDim(textEmbeds, 1), timeIdsName: timeIds.name, timeIdsType: timeIds.type, timeIdsWidth: staticDim(timeIds, 1) } }
      : {}),
    downOutputNames: down,
    midOutputName: mid,
  };
}

/**
 * ControlNets the model folder ships: first-level subfolders (`controlnet/` in the diffusers
 * ControlNet pipeline layout, as the starter model has) whose model.onnx takes `controlnet_cond`.
 * Their absolute folders are what ControlInput.model names. One that cannot serve this model is
 * left out with a note, not made the model's failure: the model itself still generates.
 */
export async function findShippedControlNets(dir: string, textDim: number, read: GraphReader, notes: string[]): Promise<string[]> {
  const found: string[] = [];
  const subs = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !STANDARD_PARTS.has(e.name) && fs.existsSync(path.join(dir, e.name, 'model.onnx')))
    .map((e) => e.name)
    .sort();
  for (const sub of subs) {
    const io = await read(path.join(dir, sub, 'model.onnx'), `${sub}/model.onnx`);
    if (!io.inputs.some((m) => m.name === 'controlnet_cond')) continue;
    try {
      const cn = await readControlNetLayout(path.join(dir, sub), read);
      if (cn.hiddenDim !== textDim) {
        notes.push(`${sub}/: a ControlNet for ${cn.hiddenDim}-wide text embeddings; this model's are ${textDim}`);
        continue;
      }
      found.push(cn.dir);
    } catch (error) {
      notes.push(`${sub}/: not a usable ControlNet (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  return found;
}
