import { A, GraphBuilder, type BuiltGraph, type FloatType } from './core.js';
import { conv2d, convOut, groupNorm, resnet, upsample2x } from './nn.js';
import { encoderHalf, midBlock, parseUnetConfig, transformer2d, unetInputs } from './unet-blocks.js';
import type { FusedChoice } from './fused.js';
import type { WeightSource } from './weights.js';

// diffusers' UNet2DConditionModel for SD 1.x / 2.x and SDXL (4- or 9-channel; SDXL's added
// conditioning in unet-sdxl.ts; epsilon or v-prediction —
// the prediction type is the scheduler's business), optionally with ControlNet residual inputs
// named as app/engine/model/layout.ts reads them (docs/engine.md, docs/graph-builder.md).

export interface UnetBuildOptions {
  /** Weight storage and float input/output type. */
  dtype?: FloatType;
  compute?: FloatType;
  /** Take ControlNet residuals: down_block_{i}_additional_residual …, mid_block_additional_residual. */
  controlnetResiduals?: boolean;
  /** Fused operators for a provider (fused.ts; default plain ONNX). */
  fused?: FusedChoice;
  /** SDXL: text_embeds' width (text_encoder_2's projection_dim); else SDXL base's 6 time ids are assumed (unet-sdxl.ts). */
  textEmbedsDim?: number;
}

export function buildUnet(config: Record<string, unknown>, weights: WeightSource, opts: UnetBuildOptions = {}): BuiltGraph {
  const cfg = { ...parseUnetConfig(config, 'unet'), ...(opts.textEmbedsDim ? { textEmbedsDim: opts.textEmbedsDim } : {}) };
  const g = new GraphBuilder({ name: 'unet', weights, dtype: opts.dtype ?? 'float32', ...(opts.compute ? { compute: opts.compute } : {}), ...(opts.fused ? { fused: opts.fused } : {}) });
  const { sample, timestep, context } = unetInputs(g, cfg);
  const enc = encoderHalf(g, cfg, sample, timestep, context);
  const skips = enc.skips.map((s) => ({ ...s }));
  let h = midBlock(g, cfg, enc.hidden, enc.channels, enc.temb, context);
  if (opts.controlnetResiduals) {
    skips.forEach((s, i) => {
      const r = g.input(`down_block_${i}_additional_residual`, g.dtype, ['batch', s.channels, `residual_${i}_height`, `residual_${i}_width`]);
      s.value = g.op1('Add', [s.value, r]);
    });
    h = g.op1('Add', [h, g.input('mid_block_additional_residual', g.dtype, ['batch', enc.channels, 'mid_height', 'mid_width'])]);
  }

  const n = cfg.blockOutChannels.length;
  let channels = enc.channels;
  cfg.upBlockTypes.forEach((type, i) => {
    const block = n - 1 - i;
    for (let j = 0; j <= cfg.layersPerBlock; j++) {
      const skip = skips.pop();
      if (!skip) throw g.error('up blocks need more skip connections than the down blocks give (layers_per_block?)');
      const joined = g.op1('Concat', [h, skip.value], { axis: A.i(1) });
      const r = resnet(g, joined, `up_blocks.${i}.resnets.${j}`, { temb: enc.temb, groups: cfg.normNumGroups, eps: cfg.normEps, inChannels: channels + skip.channels });
      h = r.out;
      channels = r.channels;
      if (type === 'CrossAttnUpBlock2D') h = transformer2d(g, h, context, `up_blocks.${i}.attentions.${j}`, cfg, block, channels);
    }
    if (i < n - 1) h = conv2d(g, upsample2x(g, h), `up_blocks.${i}.upsamplers.0.conv`, { inChannels: channels });
  });
  if (convOut(g, 'conv_out') !== cfg.outChannels) throw g.error(`conv_out gives ${convOut(g, 'conv_out')} channels, out_channels says ${cfg.outChannels}`);
  h = conv2d(g, groupNorm(g, h, 'conv_norm_out', cfg.normNumGroups, cfg.normEps, true), 'conv_out', { inChannels: channels });
  g.output(h, 'out_sample', g.dtype, ['batch', cfg.outChannels, 'height', 'width']);
  return g.finish({ 'atelier.network': 'unet', 'atelier.config': JSON.stringify(config) });
}
