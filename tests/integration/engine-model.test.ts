import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectModel, loadModel } from '../../app/engine/index.js';
import { InvalidModelError } from '../../app/engine/model/errors.js';
import { hasVulkanLoader, openSession } from '../../app/engine/model/session.js';
import { tempHome } from '../helpers/home.js';

const FIXTURES = path.resolve('tests/fixtures/models');
const fixture = (name: string): string => path.join(FIXTURES, name);

async function invalid(promise: Promise<unknown>): Promise<InvalidModelError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(InvalidModelError);
  return error as InvalidModelError;
}

describe('model detection from configs and graph metadata', () => {
  it('tells the variants apart', async () => {
    const sd1 = await inspectModel(fixture('sd1-tiny'));
    expect(sd1).toMatchObject({ family: 'sd1', prediction: 'epsilon', unetInChannels: 4, inpainting: false, lcm: false, acceptsControlnet: false, textEmbedDim: 768, dtype: 'float32', defaultWidth: 64, sizeMultiple: 16 });
    expect(sd1.components.unet!.inputs).toEqual(['sample', 'timestep', 'encoder_hidden_states']);

    const sd2 = await inspectModel(fixture('sd2-vpred-tiny'));
    expect(sd2).toMatchObject({ family: 'sd2', prediction: 'v_prediction', textEmbedDim: 1024 });
    expect(sd2.notes.join('\n')).toContain('preview.json');

    expect(await inspectModel(fixture('inpaint-tiny'))).toMatchObject({ inpainting: true, unetInChannels: 9 });
    expect(await inspectModel(fixture('lcm-tiny'))).toMatchObject({ lcm: true });
    expect(await inspectModel(fixture('fp16-tiny'))).toMatchObject({ dtype: 'float16' });
    expect(await inspectModel(fixture('controlnet-unet-tiny'))).toMatchObject({ acceptsControlnet: true });
    const optimum = await inspectModel(fixture('sd1-tiny-optimum'));
    expect(optimum.notes).toContain('external weights: unet/model.onnx_data');
  });

  it('finds a ControlNet-ready UNet in a subfolder', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-cnunet-'));
    try {
      fs.cpSync(fixture('sd1-tiny'), dir, { recursive: true });
      fs.cpSync(path.join(fixture('controlnet-unet-tiny'), 'unet'), path.join(dir, 'controlnet', 'unet'), { recursive: true });
      const info = await inspectModel(dir);
      expect(info.acceptsControlnet).toBe(true);
      expect(info.components.controlnet_unet?.path).toBe(path.join('controlnet', 'unet', 'model.onnx'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists the ControlNets a model folder ships (controlnet/ with model.onnx), when its UNet can use them', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-shipped-cn-'));
    const plain = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-shipped-cn-'));
    try {
      expect((await inspectModel(fixture('controlnet-unet-tiny'))).controlnets).toEqual([]);
      fs.cpSync(fixture('controlnet-unet-tiny'), dir, { recursive: true });
      fs.cpSync(fixture('controlnet-tiny'), path.join(dir, 'controlnet'), { recursive: true });
      fs.cpSync(fixture('controlnet-tiny'), path.join(dir, 'controlnet_canny'), { recursive: true });
      const info = await inspectModel(dir);
      expect(info.controlnets).toEqual([path.join(dir, 'controlnet'), path.join(dir, 'controlnet_canny')]);
      // The listed folders are what a request names: the model loads them.
      const model = await loadModel(dir, { device: 'cpu', controlnets: [info.controlnets[0]!] });
      try {
        expect(model.info.controlnets).toEqual(info.controlnets);
      } finally {
        await model.release();
      }
      // A UNet without residual inputs cannot use one: nothing listed.
      fs.cpSync(fixture('sd1-tiny'), plain, { recursive: true });
      fs.cpSync(fixture('controlnet-tiny'), path.join(plain, 'controlnet'), { recursive: true });
      expect((await inspectModel(plain)).controlnets).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(plain, { recursive: true, force: true });
    }
  });

  it('names the missing or invalid part', async () => {
    expect((await invalid(inspectModel(fixture('broken-missing-unet')))).message).toBe('unet/model.onnx is missing');
    const corrupt = await invalid(inspectModel(fixture('broken-corrupt-onnx')));
    expect(corrupt.part).toBe('text_encoder/model.onnx');
    expect(corrupt.message).toMatch(/^text_encoder\/model\.onnx cannot be loaded/);
    expect((await invalid(inspectModel(fixture('broken-config-mismatch')))).message).toBe('unet/config.json says in_channels 9 but unet/model.onnx takes 4 channels');
    expect((await invalid(inspectModel(fixture('broken-dim-mismatch')))).message).toBe('text_encoder output dim 768 does not match unet cross-attention dim 1024');
    expect((await invalid(inspectModel(fixture('does-not-exist')))).code).toBe('invalid_model');
    expect((await invalid(loadModel(fixture('broken-missing-unet'), { device: 'cpu' }))).part).toBe('unet/model.onnx');
  });

  it('loads on the CPU, records the device, checks ControlNets against the UNet', async () => {
    const model = await loadModel(fixture('controlnet-unet-tiny'), { device: 'auto', controlnets: [fixture('controlnet-tiny')] });
    try {
      expect(['cpu', 'cuda', 'webgpu', 'dml', 'coreml']).toContain(model.device);
      expect(model.info.controlnets).toEqual([fixture('controlnet-tiny')]);
      expect(model.info.notes.find((n) => n.startsWith('device: '))).toMatch(new RegExp(`^device: ${model.device}`));
    } finally {
      await model.release();
    }
    // a provider that cannot start here is the device's fault, not the model's
    const absent = process.platform === 'win32' ? 'coreml' : 'dml';
    await expect(loadModel(fixture('sd1-tiny'), { device: absent })).rejects.toMatchObject({ code: 'engine_failed', message: expect.stringMatching(new RegExp(`^device ${absent} could not start`)) });
    const plain = loadModel(fixture('sd1-tiny'), { device: 'cpu', controlnets: [fixture('controlnet-tiny')] });
    expect((await invalid(plain)).message).toMatch(/has no UNet that accepts ControlNet residuals/);
    const sd2 = loadModel(fixture('sd2-vpred-tiny'), { device: 'cpu', controlnets: [fixture('controlnet-tiny')] });
    expect((await invalid(sd2)).message).toMatch(/has no UNet that accepts ControlNet residuals/);
  });
});

describe('device auto on Linux', () => {
  it.runIf(process.platform === 'linux')('skips WebGPU, with the reason, where no Vulkan loader exists — and tries it where one does', async () => {
    const fallbacks: string[] = [];
    const opened = await openSession(path.join(fixture('sd1-tiny'), 'vae_decoder', 'model.onnx'), 'vae_decoder/model.onnx', 'auto', fallbacks, false);
    await opened.session.release();
    const webgpu = fallbacks.find((f) => f.startsWith('webgpu: '));
    if (hasVulkanLoader()) expect(webgpu ?? '').not.toMatch(/no Vulkan loader/);
    else expect(webgpu).toBe('webgpu: no Vulkan loader (libvulkan.so.1) on this machine');
  });

  it('finds a loader through LD_LIBRARY_PATH', () => {
    const { home, cleanup } = tempHome();
    try {
      fs.writeFileSync(path.join(home, 'libvulkan.so.1'), '');
      expect(hasVulkanLoader({ LD_LIBRARY_PATH: `/nonexistent:${home}` })).toBe(true);
      expect(hasVulkanLoader({ LD_LIBRARY_PATH: '/nonexistent' })).toBe(hasVulkanLoader());
    } finally {
      cleanup();
    }
  });
});
