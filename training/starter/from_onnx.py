"""Recover the training weights (.npz, as train.py writes them) from the exported ONNX files,
so a later run can continue from the shipped model with `train.py --resume`:

    /usr/bin/python3 training/starter/from_onnx.py --model resources/models/starter --out training/runs/resume
    cp training/checkpoints/meta.json training/runs/resume/

export.py keeps every parameter as a named initializer (no constant folding), stored as
float16 under "<name>_fp16"; names carry the export wrapper's prefix (unet., cn.).
"""
import argparse
import os

import numpy as np
import onnx
from onnx import numpy_helper

PARTS = {  # npz file: [(component folder, prefix in the graph)]
    "unet": [("unet", "unet.")],
    "text_encoder": [("text_encoder", "")],
    "controlnet": [("controlnet", "cn.")],
    "vae": [("vae_encoder", ""), ("vae_decoder", "")],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resources/models/starter")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for npz, comps in PARTS.items():
        sd = {}
        for comp, prefix in comps:
            m = onnx.load(os.path.join(a.model, comp, "model.onnx"))
            for init in m.graph.initializer:
                name = init.name[:-5] if init.name.endswith("_fp16") else init.name
                if name.startswith(prefix) and not name.startswith("onnx::"):
                    sd[name[len(prefix):]] = numpy_helper.to_array(init).astype(np.float16)
        np.savez(os.path.join(a.out, npz + ".npz"), **sd)
        print(npz, len(sd), "tensors")


if __name__ == "__main__":
    main()
