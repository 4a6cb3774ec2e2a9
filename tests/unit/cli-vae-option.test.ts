import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requestFromOptions } from '../../main/cli/generate-options.js';

// `atelier generate --vae`: a path becomes GenerationRequest.vae as an absolute path (the
// studio may resolve it from another folder); a bare name stays a name, which the service
// looks up in ATELIER_HOME/vae (docs/models.md, "VAE swap").

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-cli-vae-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const base = { model: dir, prompt: 'p', seed: 1, control: [], controlnet: [], device: 'cpu' as const, out: dir };

describe('--vae', () => {
  it('sends a file that exists as an absolute path and a name as it is', () => {
    fs.writeFileSync(path.join(dir, 'kl.safetensors'), '');
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(requestFromOptions({ ...base, vae: 'kl.safetensors' }).vae).toBe(path.join(fs.realpathSync(dir), 'kl.safetensors'));
    } finally {
      process.chdir(cwd);
    }
    expect(requestFromOptions({ ...base, vae: 'vae-ft-mse' }).vae).toBe('vae-ft-mse');
    expect(requestFromOptions(base).vae).toBeUndefined();
  });
});
