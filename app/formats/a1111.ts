/**
 * The A1111 / Forge infotext, the `parameters` text chunk most tools read and write:
 *
 *   formatA1111Parameters(request, extras) → prompt, "Negative prompt: …", "Key: value, …"
 *   parseA1111Text(text) → { prompt, negativePrompt, params } (the lines split back apart)
 *
 * Both follow A1111's own code (modules/processing.py `create_infotext`,
 * modules/infotext_utils.py `parse_generation_parameters`), so files round-trip with it.
 */
import { type GenerationRequest, modeOf } from '../contract/generation.js';

/** Our sampler → A1111's sampler name and schedule type (A1111 ≥ 1.9 split the two). */
export const A1111_SAMPLERS: Record<GenerationRequest['sampler'], { sampler: string; schedule?: string }> = {
  ddim: { sampler: 'DDIM' },
  euler: { sampler: 'Euler' },
  euler_a: { sampler: 'Euler a' },
  dpmpp_2m: { sampler: 'DPM++ 2M' },
  dpmpp_2m_karras: { sampler: 'DPM++ 2M', schedule: 'Karras' },
  lcm: { sampler: 'LCM' },
};

/**
 * A1111's quoting of a value in the parameters line (modules/infotext_utils.py `quote`):
 * plain unless it holds a comma, newline or colon, then JSON-quoted.
 */
export function quoteA1111(value: string): string {
  if (!/[,\n:]/.test(value)) return value;
  return JSON.stringify(value);
}

const num = (n: number): string => String(Number(n.toFixed(6)));

/**
 * The A1111 infotext ("parameters") for one candidate, following
 * modules/processing.py `create_infotext`: prompt, a "Negative prompt:" line, then one line
 * of "Key: value" pairs. A1111's "Model hash" is the first 10 hex digits of the model's
 * SHA-256, so a longer hash is shortened.
 */
export function formatA1111Parameters(
  request: GenerationRequest,
  extras: { seed: number; modelName?: string; modelHash?: string; appVersion?: string; width: number; height: number; loraHashes?: string; refiner?: string; vaeHash?: string; vaeName?: string; variationSeed?: number },
): string {
  // A1111 names a VAE by its file name (sd_vae.get_loaded_vae_name); Atelier's request may hold a path.
  const vaeName = request.vae ? (extras.vaeName ?? request.vae.split(/[\\/]/).filter(Boolean).pop()) : undefined;
  const variation = request.variation && request.variation.strength > 0 ? request.variation : undefined;
  const sampler = A1111_SAMPLERS[request.sampler];
  const fields: Array<[string, string | number | undefined]> = [
    ['Steps', request.steps],
    ['Sampler', sampler.sampler],
    ['Schedule type', sampler.schedule],
    ['CFG scale', num(request.cfg)],
    ['Seed', extras.seed],
    ['Size', `${extras.width}x${extras.height}`],
    ['Model hash', extras.modelHash ? extras.modelHash.slice(0, 10) : undefined],
    ['Model', extras.modelName],
    ['VAE hash', vaeName ? extras.vaeHash : undefined],
    ['VAE', vaeName],
    // Candidate k of a batch with a variation used variation seed + k (rng/variation.ts).
    ['Variation seed', variation ? (extras.variationSeed ?? variation.seed) : undefined],
    ['Variation seed strength', variation ? num(variation.strength) : undefined],
    // A1111's "Lora hashes": "name: first 10 hex digits of the file's sha256, …" (docs/models.md).
    ['Lora hashes', extras.loraHashes],
    // A1111 / Forge's SDXL refiner: "Refiner: name [hash], Refiner switch at: 0.8".
    ['Refiner', request.refiner ? (extras.refiner ?? request.refiner.model.split(/[\\/]/).filter(Boolean).pop()) : undefined],
    ['Refiner switch at', request.refiner ? num(request.refiner.switchAt) : undefined],
  ];
  const mode = modeOf(request);
  if (mode !== 'txt2img') fields.push(['Denoising strength', num(request.strength)]);
  if (request.inpaint) {
    fields.push(['Mask blur', num(request.inpaint.blur)]);
    if (request.inpaint.onlyMasked) {
      fields.push(['Inpaint area', 'Only masked'], ['Masked area padding', request.inpaint.padding]);
    }
  }
  request.controls.forEach((control, i) => {
    // sd-webui-controlnet's infotext: "ControlNet i: "Module: …, Model: …, Weight: …, …"".
    const unit = [
      `Module: ${control.preprocess === 'none' ? 'none' : control.preprocess}`,
      `Model: ${control.model}`,
      `Weight: ${num(control.weight)}`,
      `Guidance Start: ${num(control.start)}`,
      `Guidance End: ${num(control.end)}`,
    ].join(', ');
    fields.push([`ControlNet ${i}`, unit]);
  });
  fields.push(['Version', extras.appVersion ? `atelier-${extras.appVersion}` : undefined]);
  const line = fields
    .filter((f): f is [string, string | number] => f[1] !== undefined && f[1] !== '')
    .map(([k, v]) => `${k}: ${typeof v === 'number' ? v : quoteA1111(v)}`)
    .join(', ');
  const lines = [request.prompt];
  if (request.negativePrompt) lines.push(`Negative prompt: ${request.negativePrompt}`);
  lines.push(line);
  return lines.join('\n');
}

// The same pattern A1111 uses for "Key: value" pairs (a value may be JSON-quoted).
const RE_PARAM = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;

export function parseA1111Text(text: string): { prompt: string; negativePrompt: string; params: Record<string, string> } {
  const lines = text.trim().split('\n');
  let last = lines.pop() ?? '';
  if ([...last.matchAll(RE_PARAM)].length < 3) {
    lines.push(last);
    last = '';
  }
  const prompt: string[] = [];
  const negative: string[] = [];
  let inNegative = false;
  for (let line of lines) {
    line = line.trim();
    if (line.startsWith('Negative prompt:')) {
      inNegative = true;
      line = line.slice(16).trim();
    }
    (inNegative ? negative : prompt).push(line);
  }
  const params: Record<string, string> = {};
  for (const m of last.matchAll(RE_PARAM)) {
    let value = m[2]!.trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        // A1111 keeps a value it cannot unquote as written.
      }
    }
    params[m[1]!.trim()] = value;
  }
  return { prompt: prompt.join('\n'), negativePrompt: negative.join('\n'), params };
}
