"""The starter model's networks, shaped like Stable Diffusion's so they export to its ONNX layout.

- AutoencoderKL: 8x downsampling, 4 latent channels, diagonal Gaussian posterior (SD's VAE).
- TextEncoder: a CLIP-style causal transformer; last_hidden_state [B,77,D] and pooler_output
  (the hidden state at the end token, found as argmax of the ids as CLIP does).
- UNet: diffusers' UNet2DConditionModel structure in small: conv_in, down blocks of
  (ResBlock + cross-attention transformer) with a downsampler on all but the last, a mid
  block, up blocks with layers+1 ResBlocks consuming the skips. It accepts ControlNet
  residuals added to the skips and the mid output, as diffusers does.
- ControlNet: a copy of the UNet's encoder half + a small sketch encoder + zero convs
  (Zhang et al. 2023, "Adding Conditional Control to Text-to-Image Diffusion Models").

Runs on torch 1.13 (export) and 2.x (training): no newer API is required.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

_SDPA = getattr(F, "scaled_dot_product_attention", None)
# Export uses plain matmul + softmax (opset 14 has no attention op); training may use SDPA.
USE_SDPA = [False]


def attention(q, k, v, mask=None):
    """q,k,v [B,H,N,d]."""
    if USE_SDPA[0] and _SDPA is not None:
        # Under autocast q is bfloat16; SDPA wants a float mask of the query's dtype.
        return _SDPA(q, k, v, attn_mask=None if mask is None else mask.to(q.dtype))
    w = torch.matmul(q, k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
    if mask is not None:
        w = w + mask
    return torch.matmul(w.softmax(-1), v)


def groups(c: int) -> int:
    for g in (32, 16, 8, 4):
        if c % g == 0:
            return g
    return 1


# ------------------------------------------------------------------ VAE

class VaeResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups(cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(groups(cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class VaeEncoder(nn.Module):
    def __init__(self, ch=(32, 64, 96, 128), z=4):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        layers: List[nn.Module] = []
        for i in range(len(ch)):
            layers.append(VaeResBlock(ch[max(0, i - 1)] if i else ch[0], ch[i]))
            if i < len(ch) - 1:
                layers.append(nn.Conv2d(ch[i], ch[i], 3, stride=2, padding=1))
        self.blocks = nn.Sequential(*layers)
        self.mid = VaeResBlock(ch[-1], ch[-1])
        self.norm_out = nn.GroupNorm(groups(ch[-1]), ch[-1])
        self.conv_out = nn.Conv2d(ch[-1], 2 * z, 3, padding=1)

    def forward(self, x):
        """x [B,3,H,W] in [-1,1] → latent_parameters [B,8,H/8,W/8] (mean ‖ logvar)."""
        h = self.mid(self.blocks(self.conv_in(x)))
        return self.conv_out(F.silu(self.norm_out(h)))


class VaeDecoder(nn.Module):
    def __init__(self, ch=(32, 64, 96, 128), z=4):
        super().__init__()
        rc = list(reversed(ch))
        self.conv_in = nn.Conv2d(z, rc[0], 3, padding=1)
        self.mid = VaeResBlock(rc[0], rc[0])
        layers: List[nn.Module] = []
        for i in range(len(rc)):
            # The upsampling conv before this block already changed the width to rc[i].
            layers.append(VaeResBlock(rc[i], rc[i]))
            if i < len(rc) - 1:
                layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(rc[i], rc[i + 1], 3, padding=1)]
        self.blocks = nn.Sequential(*layers)
        self.norm_out = nn.GroupNorm(groups(rc[-1]), rc[-1])
        self.conv_out = nn.Conv2d(rc[-1], 3, 3, padding=1)

    def forward(self, z):
        h = self.blocks(self.mid(self.conv_in(z)))
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, ch=(32, 64, 96, 128), z=4):
        super().__init__()
        self.encoder = VaeEncoder(ch, z)
        self.decoder = VaeDecoder(ch, z)

    def encode(self, x):
        p = self.encoder(x)
        mean, logvar = p.chunk(2, dim=1)
        return mean, logvar.clamp(-30, 20)


# ------------------------------------------------------------------ text encoder

class TextLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        # A 2× MLP (CLIP uses 4×): captions come from a small grammar, and the file budget is tight.
        self.fc1, self.fc2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)

    def forward(self, x, mask):
        B, N, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).reshape(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        a = attention(q, k, v, mask).transpose(1, 2).reshape(B, N, D)
        x = x + self.proj(a)
        h = self.fc1(self.ln2(x))
        # CLIP's quick_gelu: x·sigmoid(1.702x).
        return x + self.fc2(h * torch.sigmoid(1.702 * h))


class TextEncoder(nn.Module):
    def __init__(self, vocab: int, d=256, layers=2, heads=4, length=77):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, d)
        self.position_embedding = nn.Parameter(torch.zeros(length, d))
        nn.init.normal_(self.position_embedding, std=0.01)
        self.layers = nn.ModuleList([TextLayer(d, heads) for _ in range(layers)])
        self.final_layer_norm = nn.LayerNorm(d)
        self.register_buffer("causal", torch.full((length, length), float("-inf")).triu(1), persistent=False)

    def forward(self, input_ids):
        ids = input_ids.long()
        x = self.token_embedding(ids) + self.position_embedding
        for layer in self.layers:
            x = layer(x, self.causal)
        x = self.final_layer_norm(x)
        # CLIP pools at the end token, the highest id in the vocabulary: argmax finds it.
        eos = ids.argmax(-1)
        pooled = x[torch.arange(x.shape[0], device=x.device), eos]
        return x, pooled


# ------------------------------------------------------------------ UNet

def timestep_embedding(t, dim, max_period=10000.0):
    """Sinusoidal embedding, diffusers' get_timestep_embedding with flip_sin_to_cos=True, shift 0."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    a = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=-1)


def broadcast_timestep(timestep, sample):
    """timestep [1] or [B] (or a scalar) → [B] float, without a data-dependent branch so the
    ONNX graph accepts either."""
    t = timestep.reshape(-1, 1).float()
    return (t + torch.zeros(sample.shape[0], 1, dtype=t.dtype, device=t.device)).reshape(-1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups(cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2, self.conv2 = nn.GroupNorm(groups(cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, d, ctx, heads):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(d, d, bias=False)
        self.to_k = nn.Linear(ctx, d, bias=False)
        self.to_v = nn.Linear(ctx, d, bias=False)
        self.to_out = nn.Linear(d, d)

    def forward(self, x, ctx):
        B, N, D = x.shape
        H = self.heads
        q = self.to_q(x).reshape(B, N, H, D // H).transpose(1, 2)
        k = self.to_k(ctx).reshape(B, ctx.shape[1], H, D // H).transpose(1, 2)
        v = self.to_v(ctx).reshape(B, ctx.shape[1], H, D // H).transpose(1, 2)
        return self.to_out(attention(q, k, v).transpose(1, 2).reshape(B, N, D))


class Transformer(nn.Module):
    """SD's SpatialTransformer with one BasicTransformerBlock; self-attention is optional,
    left out at the finest resolution where 1024 tokens would cost most of a CPU step."""

    def __init__(self, c, ctx, heads, self_attn: bool):
        super().__init__()
        self.norm = nn.GroupNorm(groups(c), c)
        self.proj_in = nn.Conv2d(c, c, 1)
        self.self_attn = self_attn
        if self_attn:
            self.norm1, self.attn1 = nn.LayerNorm(c), Attention(c, c, heads)
        self.norm2, self.attn2 = nn.LayerNorm(c), Attention(c, ctx, heads)
        self.norm3 = nn.LayerNorm(c)
        self.ff1, self.ff2 = nn.Linear(c, 4 * c), nn.Linear(2 * c, c)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, ctx):
        B, C, H, W = x.shape
        h = self.proj_in(self.norm(x)).reshape(B, C, H * W).transpose(1, 2)
        if self.self_attn:
            n = self.norm1(h)
            h = h + self.attn1(n, n)
        h = h + self.attn2(self.norm2(h), ctx)
        a, g = self.ff1(self.norm3(h)).chunk(2, dim=-1)
        h = h + self.ff2(a * F.gelu(g))  # GEGLU, as SD
        return x + self.proj_out(h.transpose(1, 2).reshape(B, C, H, W))


class Encoder(nn.Module):
    """conv_in + down blocks + mid block: shared by the UNet and its ControlNet copy."""

    def __init__(self, cin, ch, ctx, heads, self_attn, temb, with_attn=True):
        super().__init__()
        self.with_attn = with_attn
        self.conv_in = nn.Conv2d(cin, ch[0], 3, padding=1)
        self.res = nn.ModuleList()
        self.attn = nn.ModuleList()
        self.down = nn.ModuleList()
        prev = ch[0]
        for i, c in enumerate(ch):
            self.res.append(ResBlock(prev, c, temb))
            self.attn.append(Transformer(c, ctx, heads, self_attn[i]) if with_attn else nn.Identity())
            self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1) if i < len(ch) - 1 else nn.Identity())
            prev = c
        self.mid_res1 = ResBlock(ch[-1], ch[-1], temb)
        self.mid_attn = Transformer(ch[-1], ctx, heads, True) if with_attn else nn.Identity()
        self.mid_res2 = ResBlock(ch[-1], ch[-1], temb)
        self.skip_channels = [ch[0]] + [c for i, c in enumerate(ch) for _ in range(1 if i == len(ch) - 1 else 2)]

    def forward(self, h, temb, ctx, hint: Optional[torch.Tensor] = None):
        h = self.conv_in(h)
        if hint is not None:
            h = h + hint
        skips = [h]
        for i in range(len(self.res)):
            h = self.res[i](h, temb)
            if self.with_attn:
                h = self.attn[i](h, ctx)
            skips.append(h)
            if i < len(self.res) - 1:
                h = self.down[i](h)
                skips.append(h)
        h = self.mid_res1(h, temb)
        if self.with_attn:
            h = self.mid_attn(h, ctx)
        h = self.mid_res2(h, temb)
        return skips, h


class TimeEmbedding(nn.Module):
    def __init__(self, c0, temb):
        super().__init__()
        self.c0 = c0
        self.linear_1, self.linear_2 = nn.Linear(c0, temb), nn.Linear(temb, temb)

    def forward(self, t):
        return self.linear_2(F.silu(self.linear_1(timestep_embedding(t, self.c0))))


class UNet(nn.Module):
    def __init__(self, ch=(64, 128, 128), ctx=256, heads=4, self_attn=(False, True, True), in_channels=4):
        super().__init__()
        temb = ch[0] * 4
        self.config = dict(block_out_channels=list(ch), cross_attention_dim=ctx, attention_head_dim=heads,
                           layers_per_block=1, in_channels=in_channels, out_channels=4)
        self.time_embedding = TimeEmbedding(ch[0], temb)
        self.encoder = Encoder(in_channels, ch, ctx, heads, self_attn, temb)
        skips = list(self.encoder.skip_channels)
        self.up_res = nn.ModuleList()
        self.up_attn = nn.ModuleList()
        self.up = nn.ModuleList()
        rc = list(reversed(ch))
        prev = rc[0]
        for i, c in enumerate(rc):
            for _ in range(2):
                self.up_res.append(ResBlock(prev + skips.pop(), c, temb))
                self.up_attn.append(Transformer(c, ctx, heads, list(reversed(self_attn))[i]))
                prev = c
            self.up.append(nn.Sequential(nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)) if i < len(rc) - 1 else nn.Identity())
        self.norm_out = nn.GroupNorm(groups(ch[0]), ch[0])
        self.conv_out = nn.Conv2d(ch[0], 4, 3, padding=1)
        self.nblocks = len(ch)

    def forward(self, sample, timestep, ctx, down_residuals: Optional[Sequence[torch.Tensor]] = None,
                mid_residual: Optional[torch.Tensor] = None):
        temb = self.time_embedding(broadcast_timestep(timestep, sample))
        skips, h = self.encoder(sample, temb, ctx)
        if down_residuals is not None:
            skips = [s + r for s, r in zip(skips, down_residuals)]
        if mid_residual is not None:
            h = h + mid_residual
        k = 0
        for i in range(self.nblocks):
            for _ in range(2):
                h = self.up_res[k](torch.cat([h, skips.pop()], dim=1), temb)
                h = self.up_attn[k](h, ctx)
                k += 1
            h = self.up[i](h)
        return self.conv_out(F.silu(self.norm_out(h)))


def zero_conv(c):
    conv = nn.Conv2d(c, c, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class ControlNet(nn.Module):
    def __init__(self, ch=(64, 128, 128), ctx=256, heads=4, self_attn=(False, True, True), in_channels=4):
        super().__init__()
        temb = ch[0] * 4
        self.time_embedding = TimeEmbedding(ch[0], temb)
        self.text_proj = nn.Linear(ctx, temb)
        # The sketch says where things go; the prompt reaches the image through the UNet's
        # own cross-attention, so this copy of the encoder leaves attention out (half the
        # parameters and CPU time of a full copy).
        self.encoder = Encoder(in_channels, ch, ctx, heads, self_attn, temb, with_attn=False)
        # controlnet_cond_embedding: 3×H×W sketch → ch[0]×H/8×W/8, last conv zero (as ControlNet).
        e = [16, 32, 64]
        self.cond_embedding = nn.Sequential(
            nn.Conv2d(3, e[0], 3, padding=1), nn.SiLU(),
            nn.Conv2d(e[0], e[1], 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(e[1], e[1], 3, padding=1), nn.SiLU(),
            nn.Conv2d(e[1], e[2], 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(e[2], e[2], 3, padding=1), nn.SiLU(),
            nn.Conv2d(e[2], e[2], 3, stride=2, padding=1), nn.SiLU(),
        )
        self.cond_out = nn.Conv2d(e[2], ch[0], 3, padding=1)
        nn.init.zeros_(self.cond_out.weight)
        nn.init.zeros_(self.cond_out.bias)
        self.down_zero = nn.ModuleList([zero_conv(c) for c in self.encoder.skip_channels])
        self.mid_zero = zero_conv(ch[-1])

    def forward(self, sample, timestep, ctx, cond, scale) -> Tuple[List[torch.Tensor], torch.Tensor]:
        t = broadcast_timestep(timestep, sample)
        # The encoder has no attention, so the prompt enters as a pooled bias on the time
        # embedding (mean over the 77 states), which also keeps encoder_hidden_states a real input.
        temb = self.time_embedding(t) + self.text_proj(ctx.mean(dim=1))
        hint = self.cond_out(self.cond_embedding(cond))
        skips, h = self.encoder(sample, temb, ctx, hint)
        s = scale.reshape(-1)[0].float() if torch.is_tensor(scale) else scale
        return [z(x) * s for z, x in zip(self.down_zero, skips)], self.mid_zero(h) * s


def count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


if __name__ == "__main__":
    vae = AutoencoderKL()
    te = TextEncoder(700)
    unet = UNet()
    cn = ControlNet()
    for n, m in [("vae", vae), ("vae.encoder", vae.encoder), ("vae.decoder", vae.decoder), ("text", te), ("unet", unet), ("controlnet", cn)]:
        print(f"{n}: {count(m) / 1e6:.2f} M")
    x = torch.randn(2, 3, 256, 256)
    mean, lv = vae.encode(x)
    print("latent", mean.shape, "decoded", vae.decoder(mean).shape)
    ids = torch.randint(0, 699, (2, 77))
    ctx, pooled = te(ids)
    res, mid = cn(mean, torch.tensor([10.0, 500.0]), ctx, torch.rand(2, 3, 256, 256), torch.tensor([1.0]))
    print([tuple(r.shape) for r in res], tuple(mid.shape))
    out = unet(mean, torch.tensor([10.0, 500.0]), ctx, res, mid)
    print("unet out", out.shape)
