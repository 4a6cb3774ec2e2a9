import { z } from 'zod';

// StudioApi members for the assets a prompt can use besides the model (docs/models.md): LoRAs
// (<lora:NAME:WEIGHT>), textual-inversion embeddings (written by name) and VAEs
// (GenerationRequest.vae), each found in its folder of ATELIER_HOME.

export const AssetFile = z.object({
  /** What the prompt or the request names it by: the file name without `.safetensors`. */
  name: z.string(),
  /** Absolute path of the file (or, for a diffusers VAE, the folder). */
  path: z.string(),
  bytes: z.number().int().nonnegative(),
});
export type AssetFile = z.infer<typeof AssetFile>;

export const AssetList = z.object({
  /** ATELIER_HOME/loras/NAME.safetensors */
  loras: z.array(AssetFile),
  /** ATELIER_HOME/embeddings/NAME.safetensors */
  embeddings: z.array(AssetFile),
  /** ATELIER_HOME/vae/NAME.safetensors, or a diffusers VAE folder there */
  vaes: z.array(AssetFile),
  /** The folders they were read from, so the UI can say where to put more. */
  folders: z.object({ loras: z.string(), embeddings: z.string(), vaes: z.string() }),
});
export type AssetList = z.infer<typeof AssetList>;

export const assetsMethods = {
  /** LoRAs, embeddings and VAEs available to prompts, sorted by name (case-insensitive). */
  'assets.list': { params: z.object({}).strict(), result: AssetList },
} as const;
