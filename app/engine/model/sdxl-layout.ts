import { InvalidModelError } from './errors.js';
import type { JsonObject } from './graph-io.js';
import type { SdxlLayout, TextEncoderLayout, UnetLayout } from './layout.js';

// SDXL's parts checked against each other (docs/model-formats.md, "SDXL"): the UNet's
// text_embeds/time_ids inputs against text_encoder_2's pooled output and the pipeline's
// settings in model_index.json (force_zeros_for_empty_prompt, requires_aesthetics_score) and the
// VAE's config (force_upcast), all with diffusers' defaults.

/**
 * `xl`: the folder says SDXL (text_encoder_2/, or an XL pipeline class); `unetAdded`: the UNet
 * takes text_embeds/time_ids. Both or neither, else the folder is inconsistent.
 */
export function readSdxl(
  dir: string,
  index: JsonObject | undefined,
  vaeConfig: JsonObject | undefined,
  encoders: TextEncoderLayout[],
  unet: UnetLayout,
  controlUnet: UnetLayout | undefined,
  unetAdded: boolean,
): SdxlLayout {
  const second = encoders.find((e) => e.pooledName !== undefined);
  if (!unetAdded || !unet.added) throw new InvalidModelError(unet.part, `${dir} has text_encoder_2/ (SDXL) but ${unet.part} takes no text_embeds/time_ids`);
  if (!second) throw new InvalidModelError('text_encoder_2/model.onnx', `${unet.part} takes text_embeds and time_ids (SDXL) but the folder has no text_encoder_2/model.onnx`);
  const pooledDim = second.pooledDim!;
  for (const u of [unet, ...(controlUnet ? [controlUnet] : [])]) {
    if (!u.added) throw new InvalidModelError(u.part, `${u.part} takes no text_embeds/time_ids, which an SDXL UNet needs`);
    if (u.added.textEmbedsDim !== undefined && u.added.textEmbedsDim !== pooledDim) {
      throw new InvalidModelError(u.part, `${u.part} takes text_embeds ${u.added.textEmbedsDim} wide but text_encoder_2 gives ${pooledDim}`);
    }
  }
  const width = unet.added.timeIdsWidth ?? (index?.requires_aesthetics_score === true ? 5 : 6);
  if (width !== 5 && width !== 6) {
    throw new InvalidModelError(unet.part, `${unet.part} takes ${width} time_ids; SDXL has 6 (original size, crop, target size) or 5 (the refiner's, with the aesthetic score)`);
  }
  if (controlUnet?.added?.timeIdsWidth !== undefined && controlUnet.added.timeIdsWidth !== width) {
    throw new InvalidModelError(controlUnet.part, `${controlUnet.part} takes ${controlUnet.added.timeIdsWidth} time_ids but ${unet.part} takes ${width}`);
  }
  const flag = (cfg: JsonObject | undefined, key: string): boolean => (typeof cfg?.[key] === 'boolean' ? (cfg[key] as boolean) : true);
  return {
    timeIdsWidth: width,
    pooledDim,
    forceZerosForEmptyPrompt: flag(index, 'force_zeros_for_empty_prompt'),
    forceUpcast: flag(vaeConfig, 'force_upcast'),
  };
}
