import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../app/contract/index.js';
import { writeClipTokenizer } from '../../app/engine/checkpoint/index.js';
import { buildVaeDecoder, MemoryWeights, safetensorsWeights, writeModel, type WeightSource } from '../../app/engine/graph/index.js';
import { toFloat32Values } from '../../app/engine/graph/weights.js';
import { ClipTokenizer } from '../../app/engine/tokenizer/clip-tokenizer.js';
import { openStudioLibrary } from '../../app/service/library-handlers.js';
import { defaultClipBpe, importModel, modelsDir } from '../../app/service/model-import.js';
import { ModelRegistry } from '../../app/service/models-registry.js';
import { tempHome } from '../helpers/home.js';

// `atelier models import` through the service (docs/models.md): registration, the bundled CLIP
// vocabulary, and bad input — every refusal a typed error naming the file, with nothing
// left in the models folder.

const CKPT = path.resolve('tests/fixtures/checkpoint');
const TOKENIZER = path.resolve('tests/fixtures/models/sd1-tiny/tokenizer');
const HINTS = { unet: { heads: 4, normNumGroups: 4, sampleSize: 8 }, vaeNormGroups: 4, clipHeads: 4 };
const { home, cleanup } = tempHome('atelier-models-import-');
afterAll(cleanup);

/** A .safetensors file from float32 tensors (and a raw header override, for lying files). */
function writeSafetensors(file: string, tensors: Record<string, { shape: number[]; values?: number[] }>, mutate?: (header: Record<string, unknown>) => void): string {
  const header: Record<string, unknown> = {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const data = Buffer.from(new Float32Array(t.values ?? Array.from({ length: n }, (_, i) => (i % 7) / 7)).buffer);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + data.length] };
    chunks.push(data);
    offset += data.length;
  }
  mutate?.(header);
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, ...chunks]));
  return file;
}

async function refusal(source: string, name = 'bad'): Promise<ApiError> {
  const error = await importModel({ home, source, name, hints: HINTS, tokenizerDir: TOKENIZER, dtype: 'float32' }).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ApiError);
  // nothing half-written: no model folder, no temporary folder
  expect(fs.existsSync(modelsDir(home)) ? fs.readdirSync(modelsDir(home)).filter((f) => f === name || f.startsWith('.import-')) : []).toEqual([]);
  return error as ApiError;
}

function scratch(name: string): string {
  const dir = path.join(home, 'scratch');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}

describe('models import (service)', () => {
  it('imports a checkpoint into ATELIER_HOME/models and adds it to the model list', async () => {
    const stages = new Set<string>();
    const { imported, entry } = await importModel({ home, source: path.join(CKPT, 'sd1-tiny.safetensors'), hints: HINTS, tokenizerDir: TOKENIZER, onProgress: (p) => stages.add(p.stage) });
    expect(imported).toMatchObject({ name: 'sd1-tiny', path: path.join(modelsDir(home), 'sd1-tiny'), dtype: 'float16' });
    expect(stages.has('unet') && stages.has('done')).toBe(true);
    expect(entry).toMatchObject({ name: 'sd1-tiny', path: imported.path, valid: true, info: { dtype: 'float16', acceptsControlnet: true } });
    const listed = await new ModelRegistry({ home, inspect: async (dir) => (await import('../../app/engine/index.js')).inspectModel(dir) }).list();
    expect(listed.map((m) => m.id)).toContain(entry.id);
    // history and PNG "Model hash" use the checkpoint file's sha256 (A1111's short hash is its first 10 digits)
    const library = openStudioLibrary(home);
    try {
      expect(library.modelHash(imported.path)).toBe(imported.source.sha256);
    } finally {
      library.close();
    }
    // a second import under the same name is refused, the first left as it was
    const again = await importModel({ home, source: path.join(CKPT, 'sd1-tiny.safetensors'), hints: HINTS, tokenizerDir: TOKENIZER }).then(() => undefined, (e: unknown) => e as ApiError);
    expect(again?.code).toBe('conflict');
    expect(fs.existsSync(path.join(imported.path, 'unet', 'model.onnx'))).toBe(true);
  });

  it('the bundled CLIP vocabulary gives CLIP\'s 49408 ids (SD 1.x pads with the end token, SD 2.x with "!")', async () => {
    const dir = scratch('clip-tokenizer');
    writeClipTokenizer(defaultClipBpe(), dir, '<|endoftext|>');
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(dir, 'vocab.json'), 'utf8')) as object)).toHaveLength(49408);
    const t = await ClipTokenizer.fromFolder(dir);
    expect(t.encode('a photo of a cat').slice(0, 8)).toEqual([49406, 320, 1125, 539, 320, 2368, 49407, 49407]);
    writeClipTokenizer(defaultClipBpe(), dir, '!');
    expect((await ClipTokenizer.fromFolder(dir)).encode('a cat').slice(0, 5)).toEqual([49406, 320, 2368, 49407, 0]);
  });
});

describe('models import: VAE swap', () => {
  it('uses a standalone VAE file (original naming) instead of the checkpoint\'s', async () => {
    const { imported } = await importModel({ home, source: path.join(CKPT, 'sd1-tiny.safetensors'), name: 'with-vae', hints: HINTS, tokenizerDir: TOKENIZER, dtype: 'float32', vae: path.join(CKPT, 'vae-alt.safetensors') });
    // the same VAE fixture with decoder.conv_out.weight negated, written by the builder from diffusers names
    const fixture = safetensorsWeights(path.resolve('tests/fixtures/graph/vae/model.safetensors'));
    const info = fixture.info('decoder.conv_out.weight')!;
    const negated = new MemoryWeights('neg').set('decoder.conv_out.weight', toFloat32Values(fixture.read('decoder.conv_out.weight'), info.dtype).map((v) => -v), info.shape);
    const weights: WeightSource = { label: 'vae', names: fixture.names, info: (n) => negated.info(n) ?? fixture.info(n), read: (n) => (negated.info(n) ? negated.read(n) : fixture.read(n)) };
    const config = JSON.parse(fs.readFileSync(path.join(imported.path, 'vae_decoder', 'config.json'), 'utf8')) as Record<string, unknown>;
    const expected = path.join(home, 'scratch-vae');
    writeModel(expected, buildVaeDecoder(config, weights, { dtype: 'float32' }));
    expect(fs.readFileSync(path.join(imported.path, 'vae_decoder', 'model.onnx_data')).equals(fs.readFileSync(path.join(expected, 'model.onnx_data')))).toBe(true);
    const index = JSON.parse(fs.readFileSync(path.join(imported.path, 'model_index.json'), 'utf8')) as { atelier: { vae?: { path: string } } };
    expect(index.atelier.vae?.path).toBe(path.join(CKPT, 'vae-alt.safetensors'));
    const notVae = await importModel({ home, source: path.join(CKPT, 'sd1-tiny.safetensors'), name: 'bad-vae', hints: HINTS, tokenizerDir: TOKENIZER, vae: path.join(CKPT, 'lora', 'lora-kohya.safetensors') }).then(() => undefined, (e: unknown) => e as ApiError);
    expect(notVae?.message).toMatch(/lora-kohya\.safetensors is not a VAE/);
  });

  it('imports a checkpoint without a VAE only with --vae', async () => {
    const buf = fs.readFileSync(path.join(CKPT, 'sd1-tiny.safetensors'));
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
    for (const k of Object.keys(header)) if (k.startsWith('first_stage_model.')) delete header[k];
    const raw = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(raw.length));
    const noVae = scratch('no-vae.safetensors');
    fs.writeFileSync(noVae, Buffer.concat([len, raw, buf.subarray(8 + n)]));
    expect((await refusal(noVae, 'no-vae')).message).toMatch(/no-vae\.safetensors has no VAE \(first_stage_model\.\*\): import it with a VAE of its own \(--vae\)/);
    const { imported } = await importModel({ home, source: noVae, name: 'no-vae', hints: HINTS, tokenizerDir: TOKENIZER, dtype: 'float32', vae: path.join(CKPT, 'vae-alt.safetensors') });
    expect(fs.readFileSync(path.join(imported.path, 'vae_decoder', 'model.onnx_data')).equals(fs.readFileSync(path.join(modelsDir(home), 'with-vae', 'vae_decoder', 'model.onnx_data')))).toBe(true);
  });
});

describe('models import: bad input', () => {
  it('refuses pickles, other file types and missing files by name', async () => {
    const ckpt = scratch('old-model.ckpt');
    fs.writeFileSync(ckpt, 'not even a pickle');
    const e = await refusal(ckpt);
    expect(e.code).toBe('invalid_model');
    expect(e.message).toMatch(/old-model\.ckpt is a pickle.*can run code/);
    expect((await refusal(scratch('nothing-here.safetensors'))).code).toBe('not_found');
    const folder = scratch('pickled-diffusers');
    for (const sub of ['unet', 'vae', 'text_encoder']) fs.mkdirSync(path.join(folder, sub), { recursive: true });
    fs.writeFileSync(path.join(folder, 'unet', 'diffusion_pytorch_model.bin'), 'pickle');
    expect((await refusal(folder)).message).toMatch(/pickled-diffusers\/unet holds only pickled weights \(diffusion_pytorch_model\.bin\)/);
  });

  it('refuses truncated, mislabeled and lying safetensors files, naming them', async () => {
    const full = fs.readFileSync(path.join(CKPT, 'sd1-tiny.safetensors'));
    const cut = scratch('cut.safetensors');
    fs.writeFileSync(cut, full.subarray(0, full.length - 1000));
    expect((await refusal(cut)).message).toMatch(/cut\.safetensors: tensor .* ends past the end of the file \(truncated\?\)/);
    const png = scratch('picture.safetensors');
    fs.writeFileSync(png, Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
    expect((await refusal(png)).message).toMatch(/picture\.safetensors: header length \d+ does not fit the file/);
    const liar = writeSafetensors(scratch('liar.safetensors'), { 'model.diffusion_model.input_blocks.0.0.weight': { shape: [4, 4, 3, 3] } }, (h) => {
      (h['model.diffusion_model.input_blocks.0.0.weight'] as { shape: number[] }).shape = [320, 4, 3, 3];
    });
    expect((await refusal(liar)).message).toMatch(/liar\.safetensors: tensor model\.diffusion_model\.input_blocks\.0\.0\.weight \[320, 4, 3, 3\] F32 needs 46080 bytes, its offsets give 576/);
  });

  it('refuses files that are not SD 1.x/2.x checkpoints, saying what they are', async () => {
    const cases: [string, Record<string, { shape: number[] }>, RegExp][] = [
      ['lora.safetensors', { 'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': { shape: [4, 8] } }, /lora\.safetensors is a LoRA, not a checkpoint/],
      ['embedding.safetensors', { emb_params: { shape: [2, 768] } }, /embedding\.safetensors is a textual-inversion embedding/],
      ['xl.safetensors', { 'conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight': { shape: [4, 4] } }, /xl\.safetensors holds SDXL text encoders \(conditioner\.embedders\.\*\) but no UNet/],
      ['xl-odd.safetensors', { 'model.diffusion_model.input_blocks.0.0.weight': { shape: [4, 4, 3, 3] }, 'conditioner.embedders.0.foo.weight': { shape: [4] } }, /xl-odd\.safetensors is an SDXL checkpoint whose text encoders Atelier does not know \(conditioner\.embedders\.0\.foo/],
      ['other.safetensors', { 'transformer.h.0.attn.weight': { shape: [4, 4] } }, /other\.safetensors is not a Stable Diffusion checkpoint Atelier knows/],
      ['pix2pix.safetensors', { 'model.diffusion_model.input_blocks.0.0.weight': { shape: [320, 8, 3, 3] } }, /pix2pix\.safetensors: the UNet takes 8 input channels/],
    ];
    for (const [file, tensors, message] of cases) {
      const e = await refusal(writeSafetensors(scratch(file), tensors));
      expect(e.code, file).toBe('invalid_model');
      expect(e.message).toMatch(message);
    }
  });

  it('refuses a checkpoint with weights of an unknown architecture, or one missing, before or while writing — nothing is left', async () => {
    const header = (file: string) => {
      const buf = fs.readFileSync(file);
      const n = Number(buf.readBigUInt64LE(0));
      return { json: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { data_offsets: number[] }>, data: buf.subarray(8 + n) };
    };
    const rewrite = (out: string, mutate: (h: Record<string, { data_offsets: number[] }>) => void) => {
      const { json, data } = header(path.join(CKPT, 'sd1-tiny.safetensors'));
      mutate(json);
      const raw = Buffer.from(JSON.stringify(json));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(raw.length));
      fs.writeFileSync(out, Buffer.concat([len, raw, data]));
      return out;
    };
    const extra = rewrite(scratch('extra-block.safetensors'), (h) => {
      h['model.diffusion_model.output_blocks.1.7.adapter.weight'] = h['model.diffusion_model.out.0.bias']!;
    });
    expect((await refusal(extra)).message).toMatch(/extra-block\.safetensors: 1 unet weight\(s\) of an unknown architecture \(model\.diffusion_model\.output_blocks\.1\.7\.adapter\.weight\)/);
    // the last up block's resnet weight is missing: found only when the UNet graph is written
    const missing = rewrite(scratch('missing.safetensors'), (h) => {
      delete h['model.diffusion_model.output_blocks.8.0.out_layers.3.weight'];
    });
    const e = await refusal(missing);
    expect(e.code).toBe('invalid_model');
    expect(e.message).toMatch(/up_blocks\.2\.resnets\.2\.conv2\.weight/);
  });
});
