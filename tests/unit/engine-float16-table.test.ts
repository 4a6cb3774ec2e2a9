import { describe, expect, it } from 'vitest';
import { float16ToFloat32, fromFloat16Bits } from '../../app/engine/model/float16.js';

// float16ToFloat32 reads a table (it runs on every float16 UNet output, every step): every one
// of the 65536 bit patterns must give what the arithmetic gives.
describe('float16 → float32 through the table', () => {
  it('equals the arithmetic for every bit pattern, signed zeros, infinities and NaN included', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const got = float16ToFloat32(all);
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const want = fromFloat16Bits(h);
      if (Number.isNaN(want) ? !Number.isNaN(got[h]!) : !Object.is(got[h], Math.fround(want))) wrong.push(h);
    }
    expect(wrong).toEqual([]);
    expect(Object.is(got[0x8000], -0)).toBe(true);
    expect(got[0x7c00]).toBe(Infinity);
    expect(got[0x3c00]).toBe(1);
    expect(got[0x0001]).toBe(2 ** -24);
  });
});
