import fs from 'node:fs';
import path from 'node:path';
import { InvalidModelError } from './errors.js';
import { type GraphIO, type GraphReader, type JsonObject, STANDARD_PARTS, find, needed, num, readJson, staticDim, tensorInputs, tensorOutputs } from './graph-io.js';
import type { UnetLayout } from './layout.js';

// unet/: sample, timestep (dtype and rank vary by exporter), text hidden states, and what the
// graph adds — timestep_cond (LCM), text_embeds/time_ids (SDXL), ControlNet residual inputs.
// A plain unet/ without residual inputs may have a ControlNet-ready sibling further down.

const PART = 'unet/model.onnx';

export const RESIDUAL_DOWN = /down_block_(\d+)|down_block_res_samples?_?(\d+)|^down_(\d+)/;
export const RESIDUAL_MID = /mid_block/;

/** Down then mid residual names, by name pattern, else by position (auto-numbered exports). */
export function orderResiduals(names: string[]): { down: string[]; mid?: string } {
  if (names.length === 0) return { down: [] };
  const mid = names.find((n) => RESIDUAL_MID.test(n));
  const numbered = names
    .filter((n) => n !== mid)
    .map((n, position) => {
      const m = RESIDUAL_DOWN.exec(n);
      const index = m ? Number(m[1] ?? m[2] ?? m[3]) : NaN;
      return { n, index, position };
    });
  if (mid !== undefined && numbered.every((x) => Number.isFinite(x.index))) {
    return { down: numbered.sort((a, b) => a.index - b.index).map((x) => x.n), mid };
  }
  // Position: the exporters write the down residuals in order, the mid one last.
  return { down: names.slice(0, -1), mid: names[names.length - 1] };
}

const UNET_KNOWN = new Set(['sample', 'timestep', 'encoder_hidden_states', 'timestep_cond', 'text_embeds', 'time_ids']);

/** One UNet graph (unet/ or a ControlNet-ready sibling) and its config. */
function readUnetGraph(io: GraphIO, file: string, part: string, config: JsonObject | undefined): UnetLayout & { sdxl: boolean } {
  const inputs = tensorInputs(io);
  const outputs = tensorOutputs(io);
  const sample = needed(find(inputs, ['sample']) ?? inputs[0], part, 'sample input');
  const timestep = needed(find(inputs, ['timestep', 'timesteps']), part, 'timestep input');
  const hidden = needed(find(inputs, ['encoder_hidden_states']), part, 'encoder_hidden_states input');
  const cond = find(inputs, ['timestep_cond']);
  const textEmbeds = find(inputs, ['text_embeds']);
  const timeIds = find(inputs, ['time_ids']);
  if ((textEmbeds === undefined) !== (timeIds === undefined)) {
    throw new InvalidModelError(part, `${part} takes ${textEmbeds ? 'text_embeds' : 'time_ids'} without ${textEmbeds ? 'time_ids' : 'text_embeds'}; SDXL's added conditioning needs both`);
  }
  const out = needed(find(outputs, ['out_sample']) ?? outputs[0], part, 'output');
  const inChannels = needed(staticDim(sample, 1), part, `fixed channel count in its ${sample.name} input`);
  const hiddenDim = needed(staticDim(hidden, 2), part, `fixed width in its ${hidden.name} input`);
  const residualNames = inputs.map((m) => m.name).filter((n) => !UNET_KNOWN.has(n) && n !== sample.name && n !== timestep.name && n !== hidden.name);
  const { down, mid } = orderResiduals(residualNames);
  const byName = new Map(inputs.map((m) => [m.name, m]));
  const residuals = [...down, ...(mid !== undefined ? [mid] : [])];
  const blocks = config?.block_out_channels;
  const blockOutChannels = Array.isArray(blocks) && blocks.length > 0 && blocks.every((b) => typeof b === 'number') ? (blocks as number[]) : [320, 640, 1280, 1280];
  const layers = config?.layers_per_block;
  return {
    file,
    part,
    sampleName: sample.name,
    sampleType: sample.type,
    inChannels,
    timestepName: timestep.name,
    timestepType: timestep.type,
    timestepRank: timestep.shape.length,
    hiddenName: hidden.name,
    hiddenType: hidden.type,
    hiddenDim,
    ...(cond ? { timestepCondName: cond.name, timestepCondType: cond.type, timestepCondDim: staticDim(cond, 1) ?? 256 } : {}),
    ...(textEmbeds && timeIds
      ? { added: { textEmbedsName: textEmbeds.name, textEmbedsType: textEmbeds.type, textEmbedsDim: staticDim(textEmbeds, 1), timeIdsName: timeIds.name, timeIdsType: timeIds.type, timeIdsWidth: staticDim(timeIds, 1) } }
      : {}),
    downResidualNames: down,
    ...(mid !== undefined ? { midResidualName: mid } : {}),
    residualChannels: residuals.map((n) => staticDim(byName.get(n)!, 1)),
    residualTypes: residuals.map((n) => byName.get(n)!.type),
    blockOutChannels,
    layersPerBlock: typeof layers === 'number' ? layers : 2,
    outName: out.name,
    sdxl: inputs.some((m) => m.name === 'text_embeds' || m.name === 'time_ids'),
  };
}

/**
 * Channels and downsampling of each ControlNet residual (diffusers UNet2DConditionModel):
 * conv_in, then per down block `layers_per_block` resnets plus a downsampler for every block
 * but the last; the mid block at the deepest level. SD1.5: 320@1 ×3, 320@½, 640@½ ×2, 640@¼,
 * 1280@¼ ×2, 1280@⅛ ×3; mid 1280@⅛.
 */
export function residualPlan(unet: Pick<UnetLayout, 'blockOutChannels' | 'layersPerBlock'>): { down: Array<{ channels: number; scale: number }>; mid: { channels: number; scale: number } } {
  const ch = unet.blockOutChannels;
  const down = [{ channels: ch[0]!, scale: 1 }];
  let scale = 1;
  ch.forEach((c, b) => {
    for (let l = 0; l < unet.layersPerBlock; l++) down.push({ channels: c, scale });
    if (b < ch.length - 1) {
      scale *= 2;
      down.push({ channels: c, scale });
    }
  });
  return { down, mid: { channels: ch[ch.length - 1]!, scale } };
}

function checkResiduals(unet: UnetLayout): void {
  if (unet.midResidualName === undefined) throw new InvalidModelError(unet.part, `${unet.part} has ControlNet down-block residual inputs but no mid-block residual input`);
  const plan = residualPlan(unet);
  if (plan.down.length !== unet.downResidualNames.length) {
    throw new InvalidModelError(unet.part, `${unet.part} takes ${unet.downResidualNames.length} down-block residuals but its config (block_out_channels ${unet.blockOutChannels.length}, layers_per_block ${unet.layersPerBlock}) implies ${plan.down.length}`);
  }
  [...plan.down, plan.mid].forEach((r, i) => {
    const stated = unet.residualChannels[i];
    if (stated !== undefined && stated !== r.channels) {
      throw new InvalidModelError(unet.part, `${unet.part} residual ${i} has ${stated} channels but its config implies ${r.channels}`);
    }
  });
}

/** Looks for a UNet that takes ControlNet residuals anywhere below the model folder but the standard parts. */
async function findControlUnet(dir: string, read: GraphReader): Promise<{ unet: UnetLayout; io: GraphIO } | undefined> {
  const found: string[] = [];
  const walk = (rel: string, depth: number): void => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const sub = rel ? `${rel}/${entry.name}` : entry.name;
      if (depth === 0 && STANDARD_PARTS.has(entry.name)) continue;
      if (fs.existsSync(path.join(dir, sub, 'model.onnx'))) found.push(sub);
      if (depth < 1) walk(sub, depth + 1);
    }
  };
  walk('', 0);
  for (const sub of found.sort()) {
    const part = `${sub}/model.onnx`;
    const io = await read(path.join(dir, part), part);
    const names = io.inputs.map((m) => m.name);
    if (!names.includes('encoder_hidden_states') || !names.some((n) => RESIDUAL_MID.test(n) || RESIDUAL_DOWN.test(n))) continue;
    const config = readJson(dir, `${sub}/config.json`, false);
    const { sdxl: _sdxl, ...unet } = readUnetGraph(io, path.join(dir, part), part, config);
    if (unet.downResidualNames.length > 0 && unet.midResidualName !== undefined) return { unet, io };
  }
  return undefined;
}

export interface UnetPart {
  unet: UnetLayout;
  io: GraphIO;
  /** text_embeds/time_ids inputs: SDXL's added conditioning. */
  sdxl: boolean;
  /** A second UNet that takes ControlNet residuals, when unet/ does not. */
  control?: { unet: UnetLayout; io: GraphIO };
}

/**
 * unet/ checked against its config.json and the text encoder's width (`textDim`): channels 4
 * (text/img2img) or 9 (inpainting), cross-attention width, residual count and channels.
 */
export async function readUnet(dir: string, read: GraphReader, config: JsonObject | undefined, textDim: number, notes: string[]): Promise<UnetPart> {
  const io = await read(path.join(dir, PART), PART);
  const { sdxl, ...unet } = readUnetGraph(io, path.join(dir, PART), PART, config);
  const configIn = num(config, 'in_channels');
  if (configIn !== undefined && configIn !== unet.inChannels) {
    throw new InvalidModelError('unet/config.json', `unet/config.json says in_channels ${configIn} but ${PART} takes ${unet.inChannels} channels`);
  }
  const configCross = num(config, 'cross_attention_dim');
  if (configCross !== undefined && configCross !== unet.hiddenDim) {
    throw new InvalidModelError('unet/config.json', `unet/config.json says cross_attention_dim ${configCross} but ${PART} takes ${unet.hiddenDim}`);
  }
  if (unet.hiddenDim !== textDim) {
    const xlHint = sdxl && !fs.existsSync(path.join(dir, 'text_encoder_2', 'model.onnx')) ? ' (it takes text_embeds/time_ids: an SDXL UNet, and text_encoder_2/model.onnx is missing)' : '';
    throw new InvalidModelError(PART, `text_encoder output dim ${textDim} does not match unet cross-attention dim ${unet.hiddenDim}${xlHint}`);
  }
  if (unet.inChannels !== 4 && unet.inChannels !== 9) {
    throw new InvalidModelError(PART, `${PART} takes ${unet.inChannels} channels; expected 4 (text/img2img) or 9 (inpainting)`);
  }
  if (unet.downResidualNames.length > 0) {
    checkResiduals(unet);
    return { unet, io, sdxl };
  }
  const control = await findControlUnet(dir, read);
  if (!control) return { unet, io, sdxl };
  checkResiduals(control.unet);
  if (control.unet.hiddenDim !== textDim) {
    throw new InvalidModelError(control.unet.part, `text_encoder output dim ${textDim} does not match ${control.unet.part} cross-attention dim ${control.unet.hiddenDim}`);
  }
  notes.push(`ControlNet-ready UNet: ${control.unet.part}`);
  return { unet, io, sdxl, control };
}
