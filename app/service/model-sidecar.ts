import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ApiError } from '../contract/index.js';
import type { ImportHints } from '../engine/checkpoint/index.js';

// An import sidecar (docs/models.md, "Import sidecar"): `NAME.atelier.json` beside
// `NAME.safetensors` says what neither the weights' shapes nor A1111's `NAME.yaml` can tell —
// head counts and norm groups of a network smaller than SD's, and a tokenizer for a text
// encoder whose vocabulary is not CLIP's 49 408 ids. Real SD 1.x/2.x checkpoints need none;
// the small test fixtures carry one, so the studio and the CLI import them like any file.

const positive = z.number().int().positive();

const Sidecar = z
  .object({
    hints: z
      .object({
        // heads per block for SDXL-style UNets (one list); timeEmbedDim: SDXL's per-time-id sinusoid width
        unet: z.object({ heads: positive.or(z.array(positive).min(1).max(8)).optional(), headDim: positive.optional(), normNumGroups: positive.optional(), sampleSize: positive.optional(), timeEmbedDim: positive.optional() }).strict().optional(),
        vaeNormGroups: positive.optional(),
        vaeScalingFactor: z.number().positive().optional(),
        clipHeads: positive.optional(),
        /** SDXL's OpenCLIP-bigG heads. */
        clip2Heads: positive.optional(),
      })
      .strict()
      .optional(),
    /** A tokenizer folder (vocab.json, merges.txt), relative to the sidecar's own folder. */
    tokenizer: z.string().min(1).max(1024).optional(),
  })
  .strict();

export interface SidecarOptions {
  hints?: ImportHints;
  tokenizerDir?: string;
}

/** The sidecar of a checkpoint file, if there is one; a malformed one is refused naming it. */
export function readImportSidecar(checkpoint: string): SidecarOptions {
  if (!/\.safetensors$/i.test(checkpoint)) return {};
  const file = checkpoint.replace(/\.safetensors$/i, '.atelier.json');
  let text: string;
  try {
    if (!fs.statSync(file).isFile()) return {};
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ApiError('invalid_file', `${path.basename(file)} cannot be read: ${(error as Error).message}`, { path: file });
  }
  let parsed: z.infer<typeof Sidecar>;
  try {
    parsed = Sidecar.parse(JSON.parse(text));
  } catch (error) {
    const why = error instanceof z.ZodError ? z.prettifyError(error) : (error as Error).message;
    throw new ApiError('invalid_file', `${path.basename(file)} is not an import sidecar: ${why}`, { path: file });
  }
  const out: SidecarOptions = {};
  if (parsed.hints) out.hints = parsed.hints;
  if (parsed.tokenizer) {
    const dir = path.resolve(path.dirname(file), parsed.tokenizer);
    if (!['vocab.json', 'merges.txt'].every((f) => fs.existsSync(path.join(dir, f)))) {
      throw new ApiError('invalid_file', `${path.basename(file)}: its tokenizer ${dir} has no vocab.json and merges.txt`, { path: file });
    }
    out.tokenizerDir = dir;
  }
  return out;
}
