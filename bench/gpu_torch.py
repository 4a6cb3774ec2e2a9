"""The PyTorch side of `npm run bench:gpu` (bench/gpu.ts; docs/performance.md, "GPU").

Builds the same UNet in PyTorch eager from tests/fixtures/graph_fixtures.py (diffusers' module
structure and names), loads the very weights bench/gpu.ts wrote into the ONNX graph (through
model.onnx.weights.json: each weight's byte range and whether it was stored transposed), runs
the inputs bench/gpu.ts wrote, and reports per-step milliseconds, peak GPU memory and the
output (so that the bench can check both sides computed the same thing).

Attention uses torch's scaled_dot_product_attention where it exists (torch >= 2), as
diffusers' default AttnProcessor2_0 does: the baseline is what an artist's PyTorch UI runs.

--e2e DIR: txt2img end to end on a whole model folder written by bench/gpu-e2e.ts (text encoder,
UNet steps with CFG and Euler, VAE decode), per batch size, with peak GPU memory.

Exit 3 (and a JSON line saying why) when torch is missing, or CUDA is missing and --device
cuda was asked for.
"""
import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--graph', help='folder with model.onnx_data and model.onnx.weights.json')
    ap.add_argument('--config', help='the UNet config.json')
    ap.add_argument('--inputs', help='inputs.json written by bench/gpu.ts (raw float32 files beside it)')
    ap.add_argument('--output', help='where to write the float32 output')
    ap.add_argument('--e2e', help='a model folder written by bench/gpu-e2e.ts: time txt2img end to end instead')
    ap.add_argument('--size', type=int, default=512)
    ap.add_argument('--batches', default='1,4')
    ap.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    ap.add_argument('--dtype', default='float16', choices=['float16', 'float32'])
    ap.add_argument('--steps', type=int, default=10)
    a = ap.parse_args()
    try:
        import numpy as np
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        print(json.dumps({'missing': f'python: {e}'}))
        sys.exit(3)
    if a.device == 'cuda' and not torch.cuda.is_available():
        print(json.dumps({'missing': 'torch has no CUDA device here'}))
        sys.exit(3)
    sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'fixtures'))
    import graph_fixtures as gf

    if hasattr(F, 'scaled_dot_product_attention'):
        def attend(self, x, ctx):
            b, s, d = x.shape
            hd = d // self.heads
            split = lambda t: t.reshape(b, -1, self.heads, hd).transpose(1, 2)
            o = F.scaled_dot_product_attention(split(self.to_q(x)), split(self.to_k(ctx)), split(self.to_v(ctx)))
            return self.to_out[0](o.transpose(1, 2).reshape(b, s, d))
        gf.Attention.attend = attend

    # graph_fixtures' timestep embedding is for CPU float32 references: on CUDA its frequencies must
    # live on the timestep's device, and the embedding takes the model's dtype (as diffusers casts it)
    model_dtype = torch.float16 if a.dtype == 'float16' else torch.float32

    def timestep_embedding(t, dim, shift=0):
        half = dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - shift))
        args = t.float()[:, None] * freqs[None]
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1).to(model_dtype)
    gf.timestep_embedding = timestep_embedding

    if a.e2e:
        e2e(a, np, torch, gf)
        return
    if not (a.graph and a.config and a.inputs and a.output):
        ap.error('--graph, --config, --inputs and --output (or --e2e DIR)')
    cfg = json.load(open(a.config))
    model = gf.UNet2DConditionModel(cfg)
    model.load_state_dict(read_weights(a.graph, np, torch), strict=True)
    dtype = torch.float16 if a.dtype == 'float16' else torch.float32
    dev = torch.device(a.device)
    model = model.to(dev, dtype).eval()

    spec = json.load(open(a.inputs))
    base = os.path.dirname(os.path.abspath(a.inputs))
    def load(name, as_dtype):
        e = spec[name]
        v = np.fromfile(os.path.join(base, e['file']), dtype=np.float32).reshape(e['shape'])
        return torch.from_numpy(v).to(dev, as_dtype)
    sample, t, ctx = load('sample', dtype), load('timestep', torch.float32), load('encoder_hidden_states', dtype)

    def sync():
        if a.device == 'cuda':
            torch.cuda.synchronize()
    with torch.inference_mode():
        if a.device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        out = model(sample, t, ctx)
        sync()
        first = (time.perf_counter() - start) * 1000
        times = []
        for _ in range(a.steps):
            start = time.perf_counter()
            out = model(sample, t, ctx)
            sync()
            times.append((time.perf_counter() - start) * 1000)
    out.float().cpu().numpy().astype(np.float32).tofile(a.output)
    times.sort()
    print(json.dumps({
        'torch': torch.__version__,
        'device': torch.cuda.get_device_name(0) if a.device == 'cuda' else 'cpu',
        'dtype': a.dtype,
        'sdpa': hasattr(F, 'scaled_dot_product_attention'),
        'first_ms': first,
        'mean_ms': sum(times) / len(times),
        'min_ms': times[0],
        'median_ms': times[len(times) // 2],
        'peak_gpu_mib': torch.cuda.max_memory_allocated() / 2**20 if a.device == 'cuda' else None,
    }))


def read_weights(graph_dir, np, torch):
    """The weights bench/gpu.ts wrote into a graph, by their diffusers / transformers names."""
    index = json.load(open(os.path.join(graph_dir, 'model.onnx.weights.json')))
    storage = np.float16 if index['storage'] == 'float16' else np.float32
    state = {}
    with open(os.path.join(graph_dir, index['data']), 'rb') as f:
        for t in index['tensors']:
            f.seek(t['offset'])
            v = np.frombuffer(f.read(t['length']), dtype=storage).reshape(t['dims'])
            if t['transpose']:
                v = v.T
            state[t['weight']] = torch.from_numpy(np.ascontiguousarray(v).astype(np.float32)).reshape(t['shape'])
    return state


def e2e(a, np, torch, gf):
    """txt2img as diffusers' StableDiffusionPipeline runs it (CLIP, CFG batch 2B per UNet call, Euler,
    the whole batch through the VAE decoder at once) on the weights of a bench/gpu-e2e.ts folder."""
    dtype = torch.float16 if a.dtype == 'float16' else torch.float32
    dev = torch.device(a.device)
    cfg = lambda part: json.load(open(os.path.join(a.e2e, part, 'config.json')))

    def load(module, part):
        state = read_weights(os.path.join(a.e2e, part), np, torch)
        missing, unexpected = module.load_state_dict(state, strict=False)
        if unexpected:
            raise SystemExit(f'{part}: weights the torch module lacks: {unexpected[:3]}')
        return module.to(dev, dtype).eval(), missing

    clip, _ = load(gf.ClipTextModel(cfg('text_encoder')), 'text_encoder')
    unet, missing = load(gf.UNet2DConditionModel(cfg('unet')), 'unet')
    if missing:
        raise SystemExit(f'unet: weights missing: {missing[:3]}')
    vae, missing = load(gf.AutoencoderKL(cfg('vae_decoder')), 'vae_decoder')
    if [m for m in missing if m.startswith(('decoder.', 'post_quant_conv.'))]:
        raise SystemExit('vae_decoder: decoder weights missing')
    scaling = cfg('vae_decoder').get('scaling_factor', 0.18215)

    def encode(ids):
        tm = clip.text_model
        s = ids.shape[1]
        x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding(torch.arange(s, device=dev))[None]
        mask = torch.triu(torch.full((s, s), torch.finfo(dtype).min, device=dev, dtype=dtype), diagonal=1)[None, None]
        for layer in tm.encoder.layers:
            x = layer(x, mask)
        return tm.final_layer_norm(x)

    # Euler (EulerDiscreteScheduler, scaled_linear betas, leading spacing, steps_offset 1), in float32
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    ac = torch.cumprod(1 - betas, 0)
    ts = (torch.arange(a.steps) * (1000 // a.steps)).flip(0) + 1
    sigmas = torch.cat([((1 - ac[ts]) / ac[ts]).sqrt(), torch.zeros(1, dtype=torch.float64)]).float().tolist()

    def sync():
        if a.device == 'cuda':
            torch.cuda.synchronize()

    def run(batch, steps):
        if a.device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        g = torch.Generator(device='cpu').manual_seed(1)
        t0 = time.perf_counter()
        ids = torch.arange(154, device=dev).reshape(2, 77) % 900  # uncond, cond
        ctx = encode(ids)
        ctx = torch.cat([ctx[:1].expand(batch, -1, -1), ctx[1:].expand(batch, -1, -1)])
        sync()
        text = (time.perf_counter() - t0) * 1000
        lat = a.size // 8
        x = (torch.randn(batch, 4, lat, lat, generator=g) * (sigmas[0] ** 2 + 1) ** 0.5).to(dev, torch.float32)
        step_times = []
        for i in range(steps):
            s0 = time.perf_counter()
            sigma = sigmas[i]
            inp = (x / (sigma ** 2 + 1) ** 0.5).to(dtype)
            t = torch.full((2 * batch,), float(ts[i]), device=dev)
            eps = unet(torch.cat([inp, inp]), t, ctx).float()
            eps = eps[:batch] + 7.5 * (eps[batch:] - eps[:batch])
            x = x + (sigmas[i + 1] - sigma) * eps
            sync()
            step_times.append((time.perf_counter() - s0) * 1000)
        v0 = time.perf_counter()
        pixels = vae.decoder(vae.post_quant_conv((x / scaling).to(dtype)))
        pixels = ((pixels.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).cpu()
        sync()
        vae_ms = (time.perf_counter() - v0) * 1000
        total = (time.perf_counter() - t0) * 1000
        return {'batch': batch, 'total_ms': total, 'text_ms': text, 'unet_step_ms': sum(step_times) / len(step_times),
                'vae_ms': vae_ms, 'peak_gpu_mib': torch.cuda.max_memory_allocated() / 2**20 if a.device == 'cuda' else None,
                'finite': bool(torch.isfinite(x).all())}

    batches = [int(b) for b in a.batches.split(',')]
    with torch.inference_mode():
        run(max(batches), 1)  # warm-up: kernels chosen, allocator grown
        runs = [run(b, a.steps) for b in batches]
    print(json.dumps({'torch': torch.__version__, 'device': torch.cuda.get_device_name(0) if a.device == 'cuda' else 'cpu',
                      'dtype': a.dtype, 'sdpa': hasattr(torch.nn.functional, 'scaled_dot_product_attention'), 'runs': runs}))


if __name__ == '__main__':
    main()
