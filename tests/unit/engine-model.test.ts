import { describe, expect, it } from 'vitest';
import { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from '../../app/engine/model/float16.js';
import { orderResiduals } from '../../app/engine/model/layout.js';

describe('float16 conversion', () => {
  it('matches known IEEE binary16 bit patterns (numpy.float16(x).view(uint16))', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff],
      [65520, 0x7c00], // rounds up to Inf
      [0.1, 0x2e66], [1 / 3, 0x3555], [5.960464477539063e-8, 0x0001], [6.103515625e-5, 0x0400],
      [1.0009765625, 0x3c01], [1.00048828125, 0x3c00], // halfway: ties to even
      [1.00146484375, 0x3c02], // halfway above odd: up to even
      [Infinity, 0x7c00], [-Infinity, 0xfc00],
    ];
    for (const [value, bits] of cases) expect(toFloat16Bits(value), `${value}`).toBe(bits);
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN)))).toBe(true);
  });

  it('round-trips every finite half exactly', () => {
    const all = new Uint16Array(0x10000).map((_, i) => i);
    const finite = all.filter((h) => (h & 0x7c00) !== 0x7c00);
    const back = float32ToFloat16(float16ToFloat32(finite));
    expect(Array.from(back)).toEqual(Array.from(finite));
  });
});

describe('ControlNet residual order', () => {
  it('sorts OnnxStack names by block number and puts mid last', () => {
    const names = ['mid_block_additional_residual', 'down_block_10_additional_residual', 'down_block_2_additional_residual', 'down_block_0_additional_residual'];
    expect(orderResiduals(names)).toEqual({
      down: ['down_block_0_additional_residual', 'down_block_2_additional_residual', 'down_block_10_additional_residual'],
      mid: 'mid_block_additional_residual',
    });
  });

  it('falls back to position for auto-numbered names', () => {
    expect(orderResiduals(['onnx::Add_5', 'onnx::Add_6', 'onnx::Add_7'])).toEqual({ down: ['onnx::Add_5', 'onnx::Add_6'], mid: 'onnx::Add_7' });
  });
});
