"""Export trained starter weights (.npz) to the Stable-Diffusion ONNX folder layout.

    /usr/bin/python3 training/starter/export.py --weights training/checkpoints --out resources/models/starter

Writes model_index.json, text_encoder/, unet/, vae_encoder/, vae_decoder/, controlnet/,
scheduler/, preview.json (and keeps tokenizer/). Input and output names follow Optimum's and
OnnxStack's exports (see shared/design/MODEL-FORMATS.md). Weights are stored in float16 and
cast to float32 by a Cast node per weight: onnxruntime folds those casts when it loads the
session, so the CPU computes in float32 (fast kernels) while the files stay half the size.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from bpe import MAX_LENGTH  # noqa: E402

OPSET = 14


def load_npz(path: str) -> Dict[str, torch.Tensor]:
    with np.load(path) as z:
        return {k: torch.from_numpy(z[k].astype(np.float32)) for k in z.files}


def build(meta: Dict):
    a = meta["arch"]
    vae = models.AutoencoderKL(tuple(a["vae_channels"]))
    te = models.TextEncoder(a["vocab"], a["text_width"], a["text_layers"], a["text_heads"])
    unet = models.UNet(tuple(a["unet_channels"]), a["text_width"], a["heads"], tuple(a["self_attn"]))
    cn = models.ControlNet(tuple(a["unet_channels"]), a["text_width"], a["heads"], tuple(a["self_attn"]))
    return vae, te, unet, cn


def weights_to_fp16(path: str) -> None:
    """Store float initializers as float16 behind a Cast to float32."""
    m = onnx.load(path)
    g = m.graph
    casts, keep = [], []
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= 16:
            arr = numpy_helper.to_array(init).astype(np.float16)
            h = numpy_helper.from_array(arr, init.name + "_fp16")
            keep.append(h)
            casts.append(helper.make_node("Cast", [h.name], [init.name], to=TensorProto.FLOAT, name=init.name + "_cast"))
        else:
            keep.append(init)
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    onnx.checker.check_model(m)
    onnx.save(m, path)


class UNetExport(torch.nn.Module):
    def __init__(self, unet, n):
        super().__init__()
        self.unet, self.n = unet, n

    def forward(self, sample, timestep, encoder_hidden_states, *res):
        return self.unet(sample, timestep, encoder_hidden_states, list(res[: self.n]), res[self.n])


class ControlNetExport(torch.nn.Module):
    def __init__(self, cn):
        super().__init__()
        self.cn = cn

    def forward(self, sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale):
        down, mid = self.cn(sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale)
        return tuple(down) + (mid,)


class DecoderExport(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.decoder = vae.decoder

    def forward(self, latent_sample):
        return self.decoder(latent_sample)


class EncoderExport(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.encoder = vae.encoder

    def forward(self, sample):
        return self.encoder(sample)


def export(module, args, path, inputs, outputs, dynamic, fp16=True):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                          opset_version=OPSET, do_constant_folding=False)
    if fp16:
        weights_to_fp16(path)
    print(f"  {path}: {os.path.getsize(path) / 1e6:.2f} MB")


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="training/checkpoints", help="folder with meta.json, vae.npz, unet.npz, controlnet.npz")
    ap.add_argument("--out", default="resources/models/starter")
    ap.add_argument("--fp32", action="store_true", help="keep float32 weights (bigger files)")
    a = ap.parse_args()
    with open(os.path.join(a.weights, "meta.json")) as f:
        meta = json.load(f)
    vae, te, unet, cn = build(meta)
    vae.load_state_dict(load_npz(os.path.join(a.weights, "vae.npz")))
    te.load_state_dict(load_npz(os.path.join(a.weights, "text_encoder.npz")))
    unet.load_state_dict(load_npz(os.path.join(a.weights, "unet.npz")))
    cn.load_state_dict(load_npz(os.path.join(a.weights, "controlnet.npz")))
    for m in (vae, te, unet, cn):
        m.eval()
    models.USE_SDPA[0] = False
    fp16 = not a.fp32
    out = a.out
    ar = meta["arch"]
    D, size, lat = ar["text_width"], meta["image_size"], meta["image_size"] // 8
    B = 2
    ids = torch.full((B, MAX_LENGTH), 1, dtype=torch.int64)
    export(te, (ids,), f"{out}/text_encoder/model.onnx", ["input_ids"], ["last_hidden_state", "pooler_output"],
           {"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"}, "pooler_output": {0: "batch"}}, fp16)

    x = torch.randn(B, 4, lat, lat)
    t = torch.tensor([999.0, 999.0])
    ctx = torch.randn(B, MAX_LENGTH, D)
    with torch.no_grad():
        down, mid = cn(x, t, ctx, torch.zeros(B, 3, size, size), torch.tensor([1.0]))
    n = len(down)
    res_names = [f"down_block_{i}_additional_residual" for i in range(n)] + ["mid_block_additional_residual"]
    lat_axes = {0: "batch", 2: "height", 3: "width"}
    dyn = {"sample": lat_axes, "timestep": {0: "timestep_batch"}, "encoder_hidden_states": {0: "batch"}, "out_sample": lat_axes}
    for r in res_names:
        dyn[r] = {0: "batch", 2: f"{r}_h", 3: f"{r}_w"}
    export(UNetExport(unet, n), (x, t, ctx, *down, mid), f"{out}/unet/model.onnx",
           ["sample", "timestep", "encoder_hidden_states"] + res_names, ["out_sample"], dyn, fp16)
    dyn_cn = {"sample": lat_axes, "timestep": {0: "timestep_batch"}, "encoder_hidden_states": {0: "batch"},
              "controlnet_cond": {0: "batch", 2: "image_height", 3: "image_width"}}
    for r in res_names:
        dyn_cn[r] = {0: "batch", 2: f"{r}_h", 3: f"{r}_w"}
    export(ControlNetExport(cn), (x, t, ctx, torch.zeros(B, 3, size, size), torch.tensor([1.0], dtype=torch.float64)),
           f"{out}/controlnet/model.onnx",
           ["sample", "timestep", "encoder_hidden_states", "controlnet_cond", "conditioning_scale"], res_names, dyn_cn, fp16)
    img_axes = {0: "batch", 2: "image_height", 3: "image_width"}
    export(EncoderExport(vae), (torch.randn(1, 3, size, size),), f"{out}/vae_encoder/model.onnx", ["sample"], ["latent_parameters"],
           {"sample": img_axes, "latent_parameters": lat_axes}, fp16)
    export(DecoderExport(vae), (torch.randn(1, 4, lat, lat),), f"{out}/vae_decoder/model.onnx", ["latent_sample"], ["sample"],
           {"latent_sample": lat_axes, "sample": img_axes}, fp16)

    scaling = meta["scaling_factor"]
    unet_cfg = {
        "_class_name": "UNet2DConditionModel", "sample_size": lat, "in_channels": 4, "out_channels": 4,
        "block_out_channels": ar["unet_channels"], "layers_per_block": 1, "cross_attention_dim": D,
        "attention_head_dim": ar["heads"],
        "down_block_types": ["CrossAttnDownBlock2D"] * (len(ar["unet_channels"]) - 1) + ["CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D"] * len(ar["unet_channels"]),
        "accepts_controlnet_residuals": True, "controlnet_residuals": n,
    }
    write_json(f"{out}/unet/config.json", unet_cfg)
    write_json(f"{out}/controlnet/config.json", {
        "_class_name": "ControlNetModel", "conditioning": "scribble",
        "conditioning_channels": 3, "controlnet_conditioning_channel_order": "rgb",
        "conditioning_image": "white strokes on black, [0,1], image resolution (ControlNet scribble convention)",
        "block_out_channels": ar["unet_channels"], "layers_per_block": 1, "cross_attention_dim": D,
        "residuals": n,
    })
    vae_cfg = {"_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": 4,
               "block_out_channels": ar["vae_channels"], "sample_size": size, "scaling_factor": scaling}
    write_json(f"{out}/vae_encoder/config.json", vae_cfg)
    write_json(f"{out}/vae_decoder/config.json", vae_cfg)
    write_json(f"{out}/text_encoder/config.json", {
        "_class_name": "CLIPTextModel", "architectures": ["CLIPTextModel"], "hidden_size": D,
        "intermediate_size": 2 * D, "num_hidden_layers": ar["text_layers"], "num_attention_heads": ar["text_heads"],
        "max_position_embeddings": MAX_LENGTH, "vocab_size": ar["vocab"], "hidden_act": "quick_gelu",
        "projection_dim": D,
    })
    write_json(f"{out}/scheduler/scheduler_config.json", {
        "_class_name": "EulerAncestralDiscreteScheduler", "num_train_timesteps": 1000,
        "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
        "prediction_type": "epsilon", "steps_offset": 1, "timestep_spacing": "leading",
        "trained_betas": None,
    })
    write_json(f"{out}/model_index.json", {
        "_class_name": "OnnxStableDiffusionPipeline", "_diffusers_version": "0.30.0",
        "text_encoder": ["diffusers", "OnnxRuntimeModel"], "unet": ["diffusers", "OnnxRuntimeModel"],
        "vae_encoder": ["diffusers", "OnnxRuntimeModel"], "vae_decoder": ["diffusers", "OnnxRuntimeModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "EulerAncestralDiscreteScheduler"],
        "controlnet": ["diffusers", "OnnxRuntimeModel"],
        "safety_checker": [None, None], "feature_extractor": [None, None], "requires_safety_checker": False,
        "atelier": {
            "name": "Atelier starter", "default_width": size, "default_height": size,
            "notes": [
                "unet/ takes ControlNet residuals (down_block_0..%d_additional_residual, mid_block_additional_residual): feed zeros when no ControlNet is active." % (n - 1),
                "controlnet/ is a scribble ControlNet: controlnet_cond is white strokes on black in [0,1].",
                "Trained by training/ in this repository; see README.md here.",
            ],
        },
    })
    if "preview" in meta:
        write_json(f"{out}/preview.json", meta["preview"])
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out) for f in fs)
    print(f"total {total / 1e6:.2f} MB in {out}")


if __name__ == "__main__":
    main()
