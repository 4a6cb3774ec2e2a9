// Times the exported starter model directly in onnxruntime-node (CPU): 20 UNet+ControlNet
// steps at batch 2 (classifier-free guidance) + one VAE decode, as the engine would run them.
// Usage: node training/eval/ort_speed.mjs [model folder] [threads]
import ort from 'onnxruntime-node';
import path from 'node:path';

const dir = process.argv[2] ?? 'resources/models/starter';
const threads = Number(process.argv[3] ?? 2);
const opts = { executionProviders: ['cpu'], intraOpNumThreads: threads, graphOptimizationLevel: 'all' };
const open = (p) => ort.InferenceSession.create(path.join(dir, p, 'model.onnx'), opts);
const [te, unet, cn, dec] = await Promise.all([open('text_encoder'), open('unet'), open('controlnet'), open('vae_decoder')]);
console.log('unet inputs', unet.inputNames.join(','), 'outputs', unet.outputNames.join(','));
console.log('controlnet inputs', cn.inputNames.join(','), 'outputs', cn.outputNames.length);
const B = 2, L = 32;
const f32 = (dims, v = () => Math.random() - 0.5) => new ort.Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b) }, v), dims);
const ids = new ort.Tensor('int64', BigInt64Array.from({ length: B * 77 }, (_, i) => BigInt(i % 77 === 0 ? 694 : 695)), [B, 77]);
let t0 = performance.now();
const { last_hidden_state: ctx } = await te.run({ input_ids: ids });
const tText = performance.now() - t0;
const cond = f32([B, 3, 256, 256], () => (Math.random() < 0.05 ? 1 : 0));
let x = f32([B, 4, L, L]);
const steps = 20;
const times = [];
for (let s = 0; s < steps + 1; s++) {
  const t = new ort.Tensor('float32', Float32Array.from([999 - s * 50, 999 - s * 50]), [B]);
  t0 = performance.now();
  const res = await cn.run({ sample: x, timestep: t, encoder_hidden_states: ctx, controlnet_cond: cond, conditioning_scale: new ort.Tensor('float64', Float64Array.from([1]), [1]) });
  const feeds = { sample: x, timestep: t, encoder_hidden_states: ctx };
  for (const n of cn.outputNames) feeds[n] = res[n];
  const out = await unet.run(feeds);
  x = out.out_sample;
  if (s > 0) times.push(performance.now() - t0); // first step warms up
}
t0 = performance.now();
const img = await dec.run({ latent_sample: f32([1, 4, L, L]) });
const tDec = performance.now() - t0;
const mean = times.reduce((a, b) => a + b) / times.length;
console.log(JSON.stringify({ threads, textMs: +tText.toFixed(1), stepMs: +mean.toFixed(1), stepMinMs: +Math.min(...times).toFixed(1), decodeMs: +tDec.toFixed(1), totalMs: +(tText + mean * steps + tDec).toFixed(0), out: img.sample.dims }));
