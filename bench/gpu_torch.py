"""The PyTorch side of `npm run bench:gpu` (bench/gpu.ts; docs/graph-builder.md, "Fused operators").

Builds the same UNet in PyTorch eager from tests/fixtures/graph_fixtures.py (diffusers' module
structure and names), loads the very weights bench/gpu.ts wrote into the ONNX graph (through
model.onnx.weights.json: each weight's byte range and whether it was stored transposed), runs
the inputs bench/gpu.ts wrote, and reports per-step milliseconds, peak GPU memory and the
output (so that the bench can check both sides computed the same thing).

Attention uses torch's scaled_dot_product_attention where it exists (torch >= 2), as
diffusers' default AttnProcessor2_0 does: the baseline is what an artist's PyTorch UI runs.

Exit 3 (and a JSON line saying why) when torch is missing, or CUDA is missing and --device
cuda was asked for.
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--graph', required=True, help='folder with model.onnx_data and model.onnx.weights.json')
    ap.add_argument('--config', required=True, help='the UNet config.json')
    ap.add_argument('--inputs', required=True, help='inputs.json written by bench/gpu.ts (raw float32 files beside it)')
    ap.add_argument('--output', required=True, help='where to write the float32 output')
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

    cfg = json.load(open(a.config))
    model = gf.UNet2DConditionModel(cfg)
    index = json.load(open(os.path.join(a.graph, 'model.onnx.weights.json')))
    storage = np.float16 if index['storage'] == 'float16' else np.float32
    state = {}
    with open(os.path.join(a.graph, index['data']), 'rb') as f:
        for t in index['tensors']:
            f.seek(t['offset'])
            v = np.frombuffer(f.read(t['length']), dtype=storage).reshape(t['dims'])
            if t['transpose']:
                v = v.T
            state[t['weight']] = torch.from_numpy(np.ascontiguousarray(v).astype(np.float32)).reshape(t['shape'])
    model.load_state_dict(state, strict=True)
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


if __name__ == '__main__':
    main()
