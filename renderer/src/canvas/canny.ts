// Canny edges for the control panel's live preview (the engine computes the map it uses, with
// the same thresholds, in app/engine/control/canny.ts). Same scale as cv2.Canny: 3×3 Sobel on
// 0..255 gray, L1 magnitude |Gx|+|Gy|, non-maximum suppression in four directions, then
// hysteresis between `low` and `high`. Pure: RGBA in, 0/255 edges out.

export function cannyEdges(rgba: ArrayLike<number>, width: number, height: number, low: number, high: number): Uint8Array {
  const gray = new Float32Array(width * height);
  for (let i = 0; i < gray.length; i++) {
    // BT.601 luma, as the engine's preprocessor.
    gray[i] = 0.299 * (rgba[i * 4] ?? 0) + 0.587 * (rgba[i * 4 + 1] ?? 0) + 0.114 * (rgba[i * 4 + 2] ?? 0);
  }
  const at = (x: number, y: number) => gray[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))] ?? 0;
  const mag = new Float32Array(width * height);
  const dir = new Uint8Array(width * height);
  const tan22 = Math.tan(Math.PI / 8);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const gx = at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x - 1, y) - at(x - 1, y + 1);
      const gy = at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x, y - 1) - at(x + 1, y - 1);
      const i = y * width + x;
      mag[i] = Math.abs(gx) + Math.abs(gy);
      const ax = Math.abs(gx);
      const ay = Math.abs(gy);
      // 0: horizontal gradient, 1: vertical, 2: diagonal "\", 3: diagonal "/".
      dir[i] = ay <= ax * tan22 ? 0 : ay >= ax / tan22 ? 1 : gx * gy > 0 ? 2 : 3;
    }
  }
  const state = new Uint8Array(width * height); // 0 none, 1 weak, 2 strong
  const stack: number[] = [];
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const m = mag[i] ?? 0;
      if (m <= low) continue;
      const d = dir[i];
      const [a, b] = d === 0 ? [i - 1, i + 1] : d === 1 ? [i - width, i + width] : d === 2 ? [i - width - 1, i + width + 1] : [i - width + 1, i + width - 1];
      if (!(m > (mag[a] ?? 0) && m >= (mag[b] ?? 0))) continue;
      if (m > high) {
        state[i] = 2;
        stack.push(i);
      } else state[i] = 1;
    }
  }
  const out = new Uint8Array(width * height);
  while (stack.length > 0) {
    const i = stack.pop() as number;
    if (out[i]) continue;
    out[i] = 255;
    const x = i % width;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const n = i + dy * width + dx;
        if ((dx || dy) && x + dx >= 0 && x + dx < width && state[n] && !out[n]) stack.push(n);
      }
    }
  }
  return out;
}
