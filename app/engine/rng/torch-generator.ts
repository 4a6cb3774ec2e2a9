import { normalFill16Avx2 } from './avx2-box-muller.js';
import { Mt19937 } from './mt19937.js';

const TWO_POW_24 = 16777216;
const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/**
 * `torch.Generator('cpu').manual_seed(seed)` and `torch.randn(…, generator=g)` in float32,
 * bit for bit, so that a seed typed into Atelier gives the same starting noise as in
 * diffusers or A1111 with their CPU generator.
 *
 * Sources (aten/src/ATen): CPUGeneratorImpl.cpp (mt19937 seeded from the low 32 bits,
 * `random64` = first draw in the high word), core/TransformationHelper.h (`uniform_real`:
 * the low `digits` bits of a draw over 2^digits — 24 for float, 53 for double),
 * core/DistributionsHelper.h (`normal_distribution<double>`, which caches the sine half of
 * each Box–Muller pair in the generator), native/cpu/DistributionTemplates.h (`normal_kernel`:
 * float tensors of 16 or more values are filled in blocks of 16 — all uniforms first, then
 * Box–Muller within each block — and a ragged tail redraws 16 fresh uniforms for the last 16
 * slots; smaller tensors take the cached double path one value at a time).
 *
 * The block path is the AVX2 kernel that x86 builds of torch dispatch to (AVX-512 machines
 * too: `normal_stub` is registered without an AVX-512 variant). Non-x86 builds (Apple
 * silicon) use a scalar kernel with the platform's libm and differ in the last bits.
 */
export class TorchCpuGenerator {
  /** The seed as torch reports it from `initial_seed()` (an unsigned 64-bit integer). */
  readonly initialSeed: bigint;
  private engine: Mt19937;
  /** The cached second value of `normal_distribution<double>`, or null. */
  private nextDoubleNormal: number | null = null;

  constructor(seed: number | bigint) {
    let s: bigint;
    if (typeof seed === 'bigint') {
      s = seed;
    } else {
      if (!Number.isSafeInteger(seed)) {
        throw new RangeError(`A seed must be a whole number within ±2^53, got ${seed}`);
      }
      s = BigInt(seed);
    }
    if (s < -(1n << 63n) || s >= 1n << 64n) {
      throw new RangeError(`A seed must fit in 64 bits, got ${s}`);
    }
    // torch takes negative seeds as their two's-complement 64-bit pattern.
    this.initialSeed = BigInt.asUintN(64, s);
    this.engine = new Mt19937(Number(this.initialSeed & 0xffffffffn));
  }

  /** One raw 32-bit draw (`generator->random()`). */
  random(): number {
    return this.engine.nextUint32();
  }

  /** A float uniform in [0, 1): 24 random bits, as `uniform_real_distribution<float>`. */
  private uniformFloat(): number {
    return (this.engine.nextUint32() & 0xffffff) / TWO_POW_24;
  }

  /** A double uniform in [0, 1): the low 53 bits of `random64()` (high word drawn first). */
  private uniformDouble(): number {
    const hi = this.engine.nextUint32();
    const lo = this.engine.nextUint32();
    return ((hi & 0x1fffff) * TWO_POW_32 + lo) / TWO_POW_53;
  }

  /** `at::normal_distribution<double>(0, 1)`, including torch's one-value cache. */
  private normalDouble(): number {
    if (this.nextDoubleNormal !== null) {
      const cached = this.nextDoubleNormal;
      this.nextDoubleNormal = null;
      return cached;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    // torch ≤ 2.0 writes log(1 − u2), later log1p(−u2); 1 − u2 is exact here, so they agree.
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.nextDoubleNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** `torch.randn(count, generator=g)` flattened (any shape with `count` elements). */
  randn(count: number): Float32Array {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new RangeError(`randn needs a non-negative whole count, got ${count}`);
    }
    const out = new Float32Array(count);
    this.fillRandn(out);
    return out;
  }

  /** `randn` into an existing buffer: the same draws as `randn(out.length)`. */
  fillRandn(out: Float32Array): void {
    const size = out.length;
    if (size < 16) {
      for (let i = 0; i < size; i++) out[i] = this.normalDouble();
      return;
    }
    for (let i = 0; i < size; i++) out[i] = this.uniformFloat();
    for (let i = 0; i + 15 < size; i += 16) normalFill16Avx2(out, i);
    if (size % 16 !== 0) {
      // torch recomputes the last 16 values from 16 fresh uniforms.
      const tail = size - 16;
      for (let i = 0; i < 16; i++) out[tail + i] = this.uniformFloat();
      normalFill16Avx2(out, tail);
    }
  }
}
