import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelEntry } from '../contract/index.js';
import { importCheckpoint, type ImportedModel, type ImportHints, type ImportProgress, type Prediction } from '../engine/checkpoint/index.js';
import { readImportSidecar } from './model-sidecar.js';
import { ModelRegistry } from './models-registry.js';

// Importing a checkpoint file or diffusers folder into ATELIER_HOME/models and registering it
// with the model picker (docs/models.md). The CLI's `atelier models import` calls this; the
// conversion runs in the calling process (it is file work, no ONNX session is opened).

/** OpenAI's CLIP BPE merges beside the app (resources/tokenizers/clip), MIT-licensed. */
export function defaultClipBpe(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'resources', 'tokenizers', 'clip', 'bpe_simple_vocab_16e6.txt.gz');
}

/** Where imported models live: ATELIER_HOME/models. */
export function modelsDir(home: string): string {
  return path.join(home, 'models');
}

export interface ModelImportRequest {
  home: string;
  /** A .safetensors checkpoint or a diffusers folder. */
  source: string;
  /** Default: the file or folder name without its extension. */
  name?: string;
  prediction?: Prediction;
  /** Stored weights (default float16; computed in float32). */
  dtype?: 'float16' | 'float32';
  /** For checkpoints that differ from SD 1.x/2.x sizes in what shapes cannot show (tests). */
  hints?: ImportHints;
  /** A VAE to use instead of the checkpoint's (.safetensors file or diffusers vae/ folder). */
  vae?: string;
  /** A tokenizer folder instead of the bundled CLIP vocabulary. */
  tokenizerDir?: string;
  onProgress?: (p: ImportProgress) => void;
}

export interface ModelImportResult {
  imported: ImportedModel;
  entry: ModelEntry;
}

export async function importModel(req: ModelImportRequest): Promise<ModelImportResult> {
  const source = path.resolve(req.source);
  const name = req.name ?? path.basename(source).replace(/\.safetensors$/i, '');
  // What a small or unusual checkpoint's shapes cannot tell may sit beside it (model-sidecar.ts).
  const sidecar = req.hints || req.tokenizerDir ? {} : readImportSidecar(source);
  const hints = req.hints ?? sidecar.hints;
  const tokenizerDir = req.tokenizerDir ?? sidecar.tokenizerDir;
  const imported = await importCheckpoint(source, {
    modelsDir: modelsDir(req.home),
    name,
    ...(req.prediction ? { prediction: req.prediction } : {}),
    ...(req.dtype === 'float32' ? { dtype: 'float32', compute: 'float32' } : { dtype: 'float16', compute: 'float32' }),
    tokenizer: tokenizerDir ? { dir: tokenizerDir } : { clipBpe: defaultClipBpe() },
    ...(hints ? { hints } : {}),
    ...(req.vae ? { vae: req.vae } : {}),
    ...(req.onProgress ? { onProgress: req.onProgress } : {}),
  });
  const registry = new ModelRegistry({ home: req.home, inspect: async (dir) => (await import('../engine/index.js')).inspectModel(dir) });
  try {
    copyPreview(source, imported.path);
    const entry = await registry.add(imported.path, imported.name);
    return { imported, entry };
  } catch (error) {
    // A folder the engine cannot open is not left behind as an unusable model.
    fs.rmSync(imported.path, { recursive: true, force: true });
    throw error;
  }
}

/** A1111's preview beside a checkpoint (`NAME.preview.png`, also .jpg/.webp) becomes the model folder's preview (the model manager shows it). */
function copyPreview(source: string, modelDir: string): void {
  const base = source.replace(/\.safetensors$/i, '');
  if (base === source) return;
  for (const ext of ['png', 'jpg', 'jpeg', 'webp']) {
    const preview = `${base}.preview.${ext}`;
    if (fs.existsSync(preview) && fs.statSync(preview).isFile()) {
      fs.copyFileSync(preview, path.join(modelDir, `preview.${ext}`));
      return;
    }
  }
}
