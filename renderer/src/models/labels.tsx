import type { ManagedModel } from '../../../app/contract/index.js';

// How the manager names a model's family and source, and its thumbnail (the preview, or the family's short name).

export function Thumb({ model, size }: { model: ManagedModel; size: 'small' | 'large' }) {
  return model.preview ? (
    <img className={`model-thumb ${size}`} src={model.preview} alt={`Preview of ${model.name}`} data-testid={size === 'large' ? 'model-preview' : undefined} />
  ) : (
    <span className={`model-thumb ${size} none`} aria-hidden="true">
      {{ sd1: '1.x', sd2: '2.x', sdxl: 'XL', unknown: 'SD' }[model.family]}
    </span>
  );
}

export function familyLabel(family: ManagedModel['family']): string {
  return family === 'sd1' ? 'SD 1.x' : family === 'sd2' ? 'SD 2.x' : family === 'sdxl' ? 'SDXL' : 'SD-style';
}

export function sourceLabel(model: ManagedModel): string {
  const s = model.source;
  if (s.kind === 'bundled') return 'bundled';
  if (s.kind === 'hub') return `Hub ${s.repo ?? s.url ?? ''}`;
  if (s.kind === 'checkpoint') return 'imported file';
  if (s.kind === 'diffusers-folder') return 'imported folder';
  return 'folder';
}
