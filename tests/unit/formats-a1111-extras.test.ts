import { describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/generation.js';
import { formatA1111Parameters, parseA1111Text } from '../../app/formats/a1111.js';
import { readPngMetadata } from '../../app/formats/png-metadata.js';
import { stampPng } from '../../app/formats/stamp.js';
import { parseImportedMetadata } from '../../app/library/interchange.js';

// The infotext fields A1111 writes for a swapped VAE and a variation seed (modules/processing.py
// create_infotext: "VAE hash", "VAE", "Variation seed", "Variation seed strength"), written by
// formatA1111Parameters / stampPng and read back by the importer.

const pixels = { width: 1, height: 1, data: new Uint8Array([1, 2, 3, 255]) };

describe('A1111 infotext: VAE', () => {
  it('writes the VAE file name and its short hash after the model, as A1111 does', () => {
    const request = GenerationRequest.parse({ model: 'm', prompt: 'p', seed: 1, vae: '/models/vae/vae-ft-mse-840000.safetensors' });
    const text = formatA1111Parameters(request, { seed: 1, width: 64, height: 64, modelName: 'm', modelHash: 'abcdef012345', vaeHash: '0123456789' });
    expect(text).toContain('Model hash: abcdef0123, Model: m, VAE hash: 0123456789, VAE: vae-ft-mse-840000.safetensors');
    expect(parseA1111Text(text).params).toMatchObject({ 'VAE hash': '0123456789', VAE: 'vae-ft-mse-840000.safetensors' });
  });

  it('names a Windows path by its file name and writes nothing without a swapped VAE', () => {
    const windows = GenerationRequest.parse({ model: 'm', prompt: 'p', seed: 1, vae: 'C:\\vae\\kl-f8.safetensors' });
    expect(formatA1111Parameters(windows, { seed: 1, width: 64, height: 64 })).toContain('VAE: kl-f8.safetensors');
    const plain = GenerationRequest.parse({ model: 'm', prompt: 'p', seed: 1 });
    expect(formatA1111Parameters(plain, { seed: 1, width: 64, height: 64, vaeHash: '0123456789' })).not.toContain('VAE');
  });

  it('keeps the VAE in the PNG record, so our own import restores it', () => {
    const request = GenerationRequest.parse({ model: 'm', prompt: 'p', seed: 1, vae: 'alt' });
    const chunks = readPngMetadata(stampPng(pixels, { request, seed: 1, width: 1, height: 1, vaeHash: 'aaaaaaaaaa' })).chunks;
    expect(chunks.parameters).toMatch(/VAE hash: aaaaaaaaaa, VAE: alt$/m);
    // The service's resolved file name, where it has one, is what A1111 would write.
    const named = readPngMetadata(stampPng(pixels, { request, seed: 1, width: 1, height: 1, vaeHash: 'aaaaaaaaaa', vaeName: 'alt.safetensors' })).chunks;
    expect(named.parameters).toMatch(/VAE hash: aaaaaaaaaa, VAE: alt\.safetensors$/m);
    expect(parseImportedMetadata(chunks).request?.vae).toBe('alt');
  });
});

describe('A1111 import: VAE', () => {
  it('takes the VAE an A1111 file names into the request, with a note; none when A1111 wrote none', () => {
    const a1111 = 'a fox\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, VAE hash: 235745af8d, VAE: vae-ft-mse-840000-ema-pruned.safetensors, RNG: CPU';
    const meta = parseImportedMetadata({ parameters: a1111 });
    expect(meta.request?.vae).toBe('vae-ft-mse-840000-ema-pruned.safetensors');
    expect(meta.notes.join('\n')).toMatch(/made with the VAE vae-ft-mse-840000-ema-pruned\.safetensors/);
    expect(parseImportedMetadata({ parameters: a1111.replace(/VAE hash: \w+, VAE: [^,]+, /, '') }).request?.vae).toBeUndefined();
    // A path is not a name a recall could look up safely.
    expect(parseImportedMetadata({ parameters: a1111.replace('VAE: vae-ft', 'VAE: ../../vae-ft') }).request?.vae).toBeUndefined();
  });
});

describe('A1111 infotext: variation seeds', () => {
  const request = GenerationRequest.parse({ model: 'm', prompt: 'p', seed: 10, batch: 3, variation: { seed: 500, strength: 0.25 } });

  it('writes candidate k with variation seed + k and the strength, narrowing our record the same way', () => {
    const png = stampPng(pixels, { request, seed: 10, index: 2, width: 1, height: 1 });
    const chunks = readPngMetadata(png).chunks;
    expect(chunks.parameters).toContain('Seed: 10,');
    expect(chunks.parameters).toContain('Variation seed: 502, Variation seed strength: 0.25');
    // Our own record re-runs candidate 2 alone: same seed, its variation seed.
    expect(parseImportedMetadata(chunks).request).toMatchObject({ seed: 10, batch: 1, variation: { seed: 502, strength: 0.25 } });
  });

  it('parses A1111 files with a variation seed into the request, and ignores strength 0', () => {
    const a1111 = 'a fox\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Variation seed: 1234, Variation seed strength: 0.3, RNG: CPU';
    expect(parseImportedMetadata({ parameters: a1111 }).request).toMatchObject({ seed: 42, variation: { seed: 1234, strength: 0.3 } });
    const none = a1111.replace('strength: 0.3', 'strength: 0');
    expect(parseImportedMetadata({ parameters: none }).request?.variation).toBeUndefined();
    const bad = a1111.replace('strength: 0.3', 'strength: 7');
    expect(parseImportedMetadata({ parameters: bad }).request?.variation).toBeUndefined();
  });

  it('round-trips through formatA1111Parameters without our record', () => {
    const single = GenerationRequest.parse({ model: 'm', prompt: 'p', seed: 10, variation: { seed: 77, strength: 0.5 } });
    const text = formatA1111Parameters(single, { seed: 10, width: 64, height: 64 });
    expect(parseImportedMetadata({ parameters: `${text}, RNG: CPU` }).request).toMatchObject({ seed: 10, variation: { seed: 77, strength: 0.5 } });
    expect(formatA1111Parameters(GenerationRequest.parse({ model: 'm', prompt: 'p', seed: 1, variation: { seed: 2, strength: 0 } }), { seed: 1, width: 64, height: 64 })).not.toContain('Variation');
  });
});
