// kohya's SDXL LoRAs name UNet modules by the original (Stability sgm / LDM) layout, as
// sd-scripts trains SDXL on that module tree — lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q,
// lora_unet_middle_block_1_proj_in, lora_unet_output_blocks_2_2_conv, lora_unet_label_emb_0_0 —
// while built folders carry diffusers' names (docs/models.md). This turns each diffusers UNet
// module of a model into its original path (the inverse of keymap.ts's ldmUnetMap), so both
// namings match.

const RESNET: Record<string, string> = {
  norm1: 'in_layers.0',
  conv1: 'in_layers.2',
  time_emb_proj: 'emb_layers.1',
  norm2: 'out_layers.0',
  conv2: 'out_layers.3',
  conv_shortcut: 'skip_connection',
};

function resnet(rest: string): string | undefined {
  const [head, ...tail] = rest.split('.');
  const to = RESNET[head!];
  return to === undefined ? undefined : [to, ...tail].join('.');
}

/** Original-layout module path → diffusers module path, for the UNet modules `names` (diffusers weight names) hold. */
export function ldmUnetAliases(names: Iterable<string>): Map<string, string> {
  const all = [...names];
  const has = (p: string) => all.some((n) => n.startsWith(p));
  let layers = 0;
  while (has(`down_blocks.0.resnets.${layers}.`)) layers++;
  const per = layers + 1;
  const out = new Map<string, string>();
  const modules = new Set(all.filter((n) => n.endsWith('.weight')).map((n) => n.slice(0, -'.weight'.length)));
  for (const mod of modules) {
    let m: RegExpExecArray | null;
    let to: string | undefined;
    if (mod === 'conv_in') to = 'input_blocks.0.0';
    else if ((m = /^(time_embedding|add_embedding)\.linear_(1|2)$/.exec(mod))) to = `${m[1] === 'time_embedding' ? 'time_embed' : 'label_emb.0'}.${m[2] === '1' ? 0 : 2}`;
    else if (mod === 'conv_norm_out') to = 'out.0';
    else if (mod === 'conv_out') to = 'out.2';
    else if ((m = /^down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/.exec(mod))) {
      const r = resnet(m[3]!);
      if (r) to = `input_blocks.${1 + Number(m[1]) * per + Number(m[2])}.0.${r}`;
    } else if ((m = /^down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$/.exec(mod))) to = `input_blocks.${1 + Number(m[1]) * per + Number(m[2])}.1.${m[3]}`;
    else if ((m = /^down_blocks\.(\d+)\.downsamplers\.0\.conv$/.exec(mod))) to = `input_blocks.${1 + Number(m[1]) * per + layers}.0.op`;
    else if ((m = /^mid_block\.resnets\.(0|1)\.(.+)$/.exec(mod))) {
      const r = resnet(m[2]!);
      if (r) to = `middle_block.${m[1] === '0' ? 0 : 2}.${r}`;
    } else if ((m = /^mid_block\.attentions\.0\.(.+)$/.exec(mod))) to = `middle_block.1.${m[1]}`;
    else if ((m = /^up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/.exec(mod))) {
      const r = resnet(m[3]!);
      if (r) to = `output_blocks.${Number(m[1]) * per + Number(m[2])}.0.${r}`;
    } else if ((m = /^up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$/.exec(mod))) to = `output_blocks.${Number(m[1]) * per + Number(m[2])}.1.${m[3]}`;
    else if ((m = /^up_blocks\.(\d+)\.upsamplers\.0\.conv$/.exec(mod))) {
      // the upsampler follows the attention where the level has one
      to = `output_blocks.${Number(m[1]) * per + layers}.${has(`up_blocks.${m[1]}.attentions.`) ? 2 : 1}.conv`;
    }
    if (to) out.set(to, mod);
  }
  return out;
}
