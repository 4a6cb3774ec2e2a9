import { InvalidModelError } from '../model/errors.js';
import type { WeightSource } from '../graph/weights.js';
import type { DetectedCheckpoint } from './detect.js';
import { ldmClipMap, ldmUnetMap, ldmVaeMap, mappedWeights, openClipMap } from './keymap.js';

// SDXL single files (Stability's sgm layout; docs/models.md): the UNet under
// `model.diffusion_model.*` with the added conditioning as `label_emb.0.{0,2}`, the VAE under
// `first_stage_model.*`, and the text encoders under `conditioner.embedders.N`:
//   base (and its inpainting variant): 0 = CLIP-L in transformers' names (`.transformer.text_model.*`),
//                                      1 = OpenCLIP-bigG in open_clip's names (`.model.*`, fused q/k/v)
//   refiner:                           0 = OpenCLIP-bigG alone
// Which is which is read from the keys, never from the file name.

const E = 'conditioner.embedders.';

export function detectSdxl(
  label: string,
  all: WeightSource,
  keys: string[],
  inChannels: 4 | 9,
  prefixes: { unet: string; vae: string },
  opts: { withoutVae?: boolean },
): DetectedCheckpoint {
  const under = (p: string) => keys.some((k) => k.startsWith(p));
  let textEncoder: WeightSource | undefined;
  let textEncoder2: WeightSource;
  let refiner = false;
  if (under(`${E}0.transformer.`) && under(`${E}1.model.`)) {
    textEncoder = mappedWeights(all, `${label} (text encoder)`, ldmClipMap(keys, `${E}0.transformer.`));
    textEncoder2 = mappedWeights(all, `${label} (text encoder 2)`, openClipMap(keys, `${E}1.model.`, all, label, true));
  } else if (under(`${E}0.model.`) && !under(`${E}1.`)) {
    refiner = true;
    textEncoder2 = mappedWeights(all, `${label} (text encoder 2)`, openClipMap(keys, `${E}0.model.`, all, label, true));
  } else {
    const found = [...new Set(keys.filter((k) => k.startsWith(E)).map((k) => k.split('.').slice(0, 4).join('.')))].slice(0, 4).join(', ');
    throw new InvalidModelError('text_encoder', `${label} is an SDXL checkpoint whose text encoders Atelier does not know (${found || `no ${E}*`}; expected CLIP-L at ${E}0.transformer and OpenCLIP-bigG at ${E}1.model, or the refiner's OpenCLIP-bigG at ${E}0.model)`);
  }
  if (!all.info(`${prefixes.unet}label_emb.0.0.weight`)) {
    throw new InvalidModelError('unet', `${label} has SDXL text encoders but its UNet has no label_emb (the added conditioning every SDXL UNet has)`);
  }
  const hasVae = keys.some((k) => k.startsWith(prefixes.vae));
  if (!hasVae && !opts.withoutVae) throw new InvalidModelError('vae', `${label} has no VAE (${prefixes.vae}*): import it with a VAE of its own (--vae)`);
  const unet = mappedWeights(all, `${label} (UNet)`, ldmUnetMap(keys, prefixes.unet, label));
  const vae = hasVae ? mappedWeights(all, `${label} (VAE)`, ldmVaeMap(keys, prefixes.vae, label)) : undefined;

  const width = (w: WeightSource | undefined) => w?.info('text_model.embeddings.token_embedding.weight')?.shape[1] ?? 0;
  if (!textEncoder2.info('text_projection.weight')) throw new InvalidModelError('text_encoder_2', `${label}: the OpenCLIP-bigG text encoder has no text_projection (SDXL's pooled text_embeds)`);
  const context = width(textEncoder) + width(textEncoder2);
  const attn = unet.names().find((n) => n.endsWith('.attn2.to_k.weight'));
  const unetContext = attn ? unet.info(attn)!.shape[1] : undefined;
  if (unetContext !== undefined && unetContext !== context) {
    throw new InvalidModelError('unet', `${label}: the UNet's cross attention takes ${unetContext}-wide text, the text encoders give ${context}${refiner ? ' (refiner: OpenCLIP-bigG alone)' : ' (CLIP-L + OpenCLIP-bigG)'}`);
  }
  return { family: 'sdxl', inChannels, unet, textEncoder2, refiner, ...(textEncoder ? { textEncoder } : {}), ...(vae ? { vae } : {}) };
}
