import { describe, expect, it } from 'vitest';
import { GenerationSettings } from '../../app/contract/projects.js';
import { requestFromSettings, settingsFromRequest } from '../../app/projects/document/index.js';

// The panel's VAE choice (GenerationSettings.vae) becomes GenerationRequest.vae, and recall
// restores it — or the model's own VAE when the recalled run had none.

describe('VAE in generation settings', () => {
  const base = GenerationSettings.parse({ model: 'starter', prompt: 'a lake' });

  it('goes into the request only when chosen', () => {
    expect(requestFromSettings({ ...base, vae: 'kl-f8' }, 1).vae).toBe('kl-f8');
    expect('vae' in requestFromSettings(base, 1)).toBe(false);
  });

  it('is restored by recall, and cleared by recalling a run with the model\'s own VAE', () => {
    const recalled = settingsFromRequest(base, { model: 'starter', prompt: 'p', seed: 3, vae: '/v/kl-f8.safetensors' });
    expect(recalled.vae).toBe('/v/kl-f8.safetensors');
    expect(settingsFromRequest(recalled, { model: 'starter', prompt: 'p', seed: 3 }).vae).toBeUndefined();
  });
});
