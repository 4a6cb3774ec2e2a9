import { describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/generation.js';
import { formatA1111Parameters, parseA1111Text } from '../../app/formats/a1111.js';
import { readPngMetadata } from '../../app/formats/png-metadata.js';
import { stampPng } from '../../app/formats/stamp.js';
import { parseImportedMetadata } from '../../app/library/interchange.js';

// The SDXL refiner in the A1111/Forge infotext ("Refiner: name [hash], Refiner switch at: 0.8",
// modules/processing.py create_infotext with a refiner checkpoint), written by the stamp and read
// back: our own PNGs restore it from the atelier record; an A1111 PNG says it was used.

const pixels = { width: 1, height: 1, data: new Uint8Array([1, 2, 3, 255]) };
const refined = GenerationRequest.parse({ model: 'm', prompt: 'p', seed: 1, refiner: { model: 'm_0123456789ab', switchAt: 0.75 } });

describe('A1111 infotext: refiner', () => {
  it('writes the refiner\'s name, short hash and switch after the model', () => {
    const text = formatA1111Parameters(refined, { seed: 1, width: 64, height: 64, modelName: 'base', modelHash: 'abcdef012345', refiner: 'sd_xl_refiner_1.0 [7440042bbd]' });
    expect(text).toContain('Model: base, Refiner: sd_xl_refiner_1.0 [7440042bbd], Refiner switch at: 0.75');
    expect(parseA1111Text(text).params).toMatchObject({ Refiner: 'sd_xl_refiner_1.0 [7440042bbd]', 'Refiner switch at': '0.75' });
  });

  it('names a refiner given as a folder by its folder name when no label was resolved, and writes nothing without one', () => {
    const folder = GenerationRequest.parse({ model: 'm', prompt: 'p', seed: 1, refiner: { model: '/models/sdxl-refiner/', switchAt: 0.8 } });
    expect(formatA1111Parameters(folder, { seed: 1, width: 64, height: 64 })).toContain('Refiner: sdxl-refiner, Refiner switch at: 0.8');
    expect(formatA1111Parameters(GenerationRequest.parse({ model: 'm', prompt: 'p', seed: 1 }), { seed: 1, width: 64, height: 64, refiner: 'x [0]' })).not.toContain('Refiner');
  });

  it('restores the refiner from our own PNG, and notes one an A1111 PNG used', () => {
    const chunks = readPngMetadata(stampPng(pixels, { request: refined, seed: 1, width: 1, height: 1, refiner: 'XL refiner [aaaaaaaaaa]' })).chunks;
    expect(chunks.parameters).toContain('Refiner: XL refiner [aaaaaaaaaa], Refiner switch at: 0.75');
    expect(parseImportedMetadata(chunks).request?.refiner).toEqual({ model: 'm_0123456789ab', switchAt: 0.75 });
    const a1111 = parseImportedMetadata({ parameters: 'a castle\nSteps: 30, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 1024x1024, Model: sd_xl_base_1.0, Refiner: sd_xl_refiner_1.0 [7440042bbd], Refiner switch at: 0.8' });
    expect(a1111.notes.join('\n')).toContain('made with the SDXL refiner sd_xl_refiner_1.0 [7440042bbd] switching at 0.8; recalled without it');
    expect(a1111.request?.refiner).toBeUndefined();
  });
});
