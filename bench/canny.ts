// npm run bench:canny — Canny edges of a 512×512 image (the control-map size of SD 1.5), as
// the generation service runs them before each ControlNet job. Prints the median of the runs.
import os from 'node:os';
import { canny, scribbleMap } from '../app/engine/control/index.js';
import { createImage } from '../app/engine/image.js';

const SIZE = 512;
const RUNS = Number(process.env.RUNS ?? 30);

/** A deterministic picture with soft gradients, hard shapes and noise (an LCG, so every run sees the same pixels). */
function testPicture(size: number) {
  const img = createImage(size, size, [0, 0, 0, 255]);
  let s = 12345;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inCircle = (x - 200) ** 2 + (y - 260) ** 2 < 120 ** 2;
      const inBox = x > 300 && x < 460 && y > 60 && y < 220;
      const base = inCircle ? 200 : inBox ? 90 : (x + y) / 4;
      const v = Math.max(0, Math.min(255, base + (rand() - 0.5) * 30));
      img.data.set([v, v * 0.8, 255 - v, 255], (y * size + x) * 4);
    }
  }
  return img;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function time(fn: () => unknown): number[] {
  for (let i = 0; i < 3; i++) fn(); // warm-up: let V8 optimise the kernels
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return out;
}

const picture = testPicture(SIZE);
const cannyTimes = time(() => canny(picture, { low: 100, high: 200 }));
const cannyGrayTimes = time(() => canny(picture, { low: 100, high: 200, gray: true }));
const cannyBlurTimes = time(() => canny(picture, { low: 100, high: 200, blurSigma: 1.4 }));
const scribbleTimes = time(() => scribbleMap(picture, { threshold: 0.5 }));
const edges = canny(picture, { low: 100, high: 200 }).data.reduce((n, v) => n + (v ? 1 : 0), 0);

console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores), Node ${process.version}`);
console.log(`canny ${SIZE}×${SIZE} (RGB planes as cv2.Canny on colour, L1, no blur), median of ${RUNS}: ${median(cannyTimes).toFixed(1)} ms (min ${Math.min(...cannyTimes).toFixed(1)}), ${edges} edge pixels`);
console.log(`canny ${SIZE}×${SIZE} (luma only), median of ${RUNS}: ${median(cannyGrayTimes).toFixed(1)} ms`);
console.log(`canny ${SIZE}×${SIZE} RGB with Gaussian σ 1.4, median of ${RUNS}: ${median(cannyBlurTimes).toFixed(1)} ms`);
console.log(`scribble ${SIZE}×${SIZE} (11 px lines), median of ${RUNS}: ${median(scribbleTimes).toFixed(1)} ms`);
