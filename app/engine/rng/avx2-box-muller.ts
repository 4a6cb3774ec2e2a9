/**
 * torch's AVX2 Box–Muller block (aten/src/ATen/native/cpu/DistributionTemplates.h,
 * `normal_fill_16_AVX2`) replayed in scalar float32 arithmetic, bit for bit.
 *
 * torch computes log and sin/cos there with `log256_ps` and `sincos256_ps` from
 * avx_mathfun.h (Giovanni Garberoglio's AVX port of Julien Pommier's sse_mathfun, itself the
 * Cephes single-precision polynomials). torch's x86 builds compile that file with
 * `-mavx2 -mfma` and GCC contracts `mul` + `add` pairs into fused multiply-adds; which pairs
 * are fused was read from the disassembly of GCC 12 -O2 output, and the result checked
 * equal to torch 1.13's `torch.randn` on 2^20 values (tests/fixtures/reference/). Every
 * `fmaf` below marks a contraction; every `Math.fround` a separately rounded float op.
 * (Rounding a double +, −, × or √ of two floats to float is always the correctly rounded
 * float result, since 53 ≥ 2·24 + 2; only fused multiply-add needs more care.)
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fr = Math.fround;

/**
 * Single-precision fused multiply-add, a·b + c rounded once. The product of two floats is
 * exact in a double; the sum may not be, and rounding it twice (to double, then to float)
 * is wrong only when the double lands exactly halfway between two floats, which the exact
 * error term of the sum (Knuth's TwoSum) resolves.
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const f = fr(s);
  if (f === s || f === 0 || !Number.isFinite(f)) return f;
  const bv = s - p;
  const err = p - (s - bv) + (c - bv);
  if (err === 0) return f;
  // Fast exit: s is halfway between f and its neighbour g only if 2s − f (= g) is a float.
  const mirrored = 2 * s - f;
  if (fr(mirrored) !== mirrored) return f;
  const d = s - f;
  f32[0] = f;
  // Step one float toward s: up in magnitude when s lies farther from zero than f.
  u32[0] = u32[0]! + ((d > 0) === (f > 0) ? 1 : -1);
  const g = f32[0]!;
  if (2 * d === g - f) return (err > 0) === (d > 0) ? g : f;
  return f;
}

// Constants as avx_mathfun.h writes them (two shortened to the same double), rounded to float
// as `_mm256_set1_ps` does.
const SQRTHF = fr(0.7071067811865476);
const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(fr) as [number, number, number, number, number, number, number, number, number];
const LOG_Q1 = fr(-2.1219444e-4);
const LOG_Q2 = fr(0.693359375);
const MINUS_DP1 = fr(-0.78515625);
const MINUS_DP2 = fr(-2.4187564849853515625e-4);
const MINUS_DP3 = fr(-3.774894977445941e-8);
const SINCOF_P0 = fr(-1.9515295891e-4);
const SINCOF_P1 = fr(8.3321608736e-3);
const SINCOF_P2 = fr(-1.6666654611e-1);
const COSCOF_P0 = fr(2.443315711809948e-5);
const COSCOF_P1 = fr(-1.388731625493765e-3);
const COSCOF_P2 = fr(4.166664568298827e-2);
const FOPI = fr(1.27323954473516);
/** `_mm256_set1_ps(2.0f * c10::pi<double>)`: the product is taken in double, then rounded. */
const TWO_PI = fr(2 * Math.PI);

/** log256_ps for one positive normal float (torch only calls it on 1 − u, u in [0, 1)). */
export function logAvx2(v: number): number {
  f32[0] = v;
  const bits = u32[0]!;
  let e = (bits >>> 23) - 127 + 1;
  // Keep the mantissa, exponent of 0.5: x in [0.5, 1).
  u32[0] = (bits & ~0x7f800000) | 0x3f000000;
  let x = f32[0]!;
  if (x < SQRTHF) {
    e -= 1;
    x = fr(x - 1 + x);
  } else {
    x = fr(x - 1);
  }
  const z = fr(x * x);
  let y = LOG_P[0];
  y = fmaf(y, x, LOG_P[1]);
  y = fmaf(y, x, LOG_P[2]);
  y = fmaf(y, x, LOG_P[3]);
  y = fmaf(y, x, LOG_P[4]);
  y = fmaf(y, x, LOG_P[5]);
  y = fmaf(y, x, LOG_P[6]);
  y = fmaf(y, x, LOG_P[7]);
  y = fmaf(y, x, LOG_P[8]);
  y = fr(y * x);
  y = fmaf(y, z, fr(e * LOG_Q1));
  y = fmaf(-z, 0.5, y);
  x = fr(x + y);
  return fmaf(e, LOG_Q2, x);
}

let sinOut = 0;
let cosOut = 0;

/** sincos256_ps for one float; results land in sinOut/cosOut to avoid allocating a pair. */
function sincosAvx2(theta: number): void {
  const negative = theta < 0 || Object.is(theta, -0);
  let x = Math.abs(theta);
  let j = Math.trunc(fr(x * FOPI));
  j = (j + 1) & ~1;
  const y = j;
  const sinFlip = ((j & 4) !== 0) !== negative;
  const polyIsSin = (j & 2) === 0;
  const cosFlip = (~(j - 2) & 4) !== 0;
  // "Extended precision modular arithmetic": x − j·π/4 in three parts.
  x = fmaf(y, MINUS_DP1, x);
  x = fmaf(y, MINUS_DP2, x);
  x = fmaf(y, MINUS_DP3, x);
  const z = fr(x * x);
  let c = fmaf(COSCOF_P0, z, COSCOF_P1);
  c = fmaf(c, z, COSCOF_P2);
  c = fr(c * z);
  c = fmaf(c, z, -fr(z * 0.5));
  c = fr(c + 1);
  let s = fmaf(SINCOF_P0, z, SINCOF_P1);
  s = fmaf(s, z, SINCOF_P2);
  s = fr(s * z);
  s = fmaf(s, x, x);
  // The selection adds +0 to the chosen polynomial, which turns a −0 into +0.
  const sinAbs = (polyIsSin ? s : c) + 0;
  const cosAbs = (polyIsSin ? c : s) + 0;
  sinOut = sinFlip ? -sinAbs : sinAbs;
  cosOut = cosFlip ? -cosAbs : cosAbs;
}

/**
 * Replace data[offset..offset+16) — uniforms in [0, 1) — with standard normals:
 * pairs (j, j+8) are Box–Muller partners, cos to j and sin to j+8.
 */
export function normalFill16Avx2(data: Float32Array, offset: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = fr(1 - data[offset + j]!);
    const u2 = data[offset + j + 8]!;
    const radius = fr(Math.sqrt(fr(-2 * logAvx2(u1))));
    sincosAvx2(fr(TWO_PI * u2));
    // `_mm256_fmadd_ps(n, std = 1, mean = 0)`: exact, except that it turns −0 into +0.
    data[offset + j] = fr(radius * cosOut) + 0;
    data[offset + j + 8] = fr(radius * sinOut) + 0;
  }
}
