import { useState } from 'react';
import { type Layer, addLayer, createLayer, moveLayer, removeLayer, setLayerProperties } from '../../../app/projects/document/index.js';
import { controlWarning } from '../canvas/sources.js';
import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { errorMessage } from '../state/studio.js';
import { useDocument, useSelection } from '../state/useDocument.js';

const KIND_ICON: Record<Layer['kind'], string> = {
  sketch: '✎',
  shapes: '▭',
  paint: '▨',
  reference: '▣',
  mask: '◐',
  control: '⚙',
  generated: '✦',
};

/** Layers, top first as artists read them (the document stores them bottom first). */
export function LayersPanel({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const doc = useDocument(session);
  const selection = useSelection(session);
  const [renaming, setRenaming] = useState<string | null>(null);
  const models = useUi((s) => s.models);
  const modelId = useUi((s) => s.settings.model);
  const model = models.find((m) => m.id === modelId);
  const history = session.history;
  const edit = (label: string, update: Parameters<typeof history.change>[0]) => {
    try {
      history.change(update, label);
    } catch (error) {
      studio.toast('error', errorMessage(error));
    }
  };
  const layers = [...doc.layers].reverse();
  const selected = selection[0];

  return (
    <section className="panel layers-panel" aria-label="Layers" data-testid="layers-panel">
      <header className="panel-head">
        <h2>Layers</h2>
        <div className="row">
          <button type="button" data-testid="add-sketch-layer" onClick={() => session.newSketchLayer()} title="New sketch layer">
            + Sketch
          </button>
          <button
            type="button"
            data-testid="add-shapes-layer"
            onClick={() => {
              const layer = createLayer('shapes', { shapes: [] });
              edit('Add shapes layer', (d) => addLayer(d, layer));
              history.select([layer.id]);
            }}
          >
            + Shapes
          </button>
        </div>
      </header>
      <ol className="layer-list">
        {layers.map((layer) => {
          const index = doc.layers.indexOf(layer);
          return (
            <li
              key={layer.id}
              className={`layer${layer.id === selected ? ' selected' : ''}`}
              data-testid="layer"
              data-kind={layer.kind}
              data-layer-id={layer.id}
              aria-selected={layer.id === selected}
              onClick={() => history.select([layer.id])}
            >
              <span className="kind" title={layer.kind}>
                {KIND_ICON[layer.kind]}
              </span>
              {renaming === layer.id ? (
                <input
                  autoFocus
                  aria-label="Layer name"
                  data-testid="layer-name-input"
                  defaultValue={layer.name}
                  onBlur={(e) => {
                    setRenaming(null);
                    if (e.target.value !== layer.name) edit('Rename layer', (d) => setLayerProperties(d, layer.id, { name: e.target.value }));
                  }}
                  onKeyDown={(e) => {
                    if (e.key === 'Enter') e.currentTarget.blur();
                    if (e.key === 'Escape') setRenaming(null);
                  }}
                />
              ) : (
                <span className="name" data-testid="layer-name" onDoubleClick={() => setRenaming(layer.id)}>
                  {layer.name}
                </span>
              )}
              {layer.kind === 'control' && controlWarning(layer, model) && (
                <span className="layer-warning" role="img" data-testid="layer-warning" aria-label={controlWarning(layer, model) ?? ''} title={controlWarning(layer, model) ?? ''}>
                  ⚠
                </span>
              )}
              <button
                type="button"
                aria-label={layer.visible ? 'Hide layer' : 'Show layer'}
                aria-pressed={!layer.visible}
                data-testid="layer-visibility"
                onClick={(e) => {
                  e.stopPropagation();
                  edit(layer.visible ? 'Hide layer' : 'Show layer', (d) => setLayerProperties(d, layer.id, { visible: !layer.visible }));
                }}
              >
                {layer.visible ? '◉' : '○'}
              </button>
              <button
                type="button"
                aria-label={layer.locked ? 'Unlock layer' : 'Lock layer'}
                aria-pressed={layer.locked}
                data-testid="layer-lock"
                onClick={(e) => {
                  e.stopPropagation();
                  edit(layer.locked ? 'Unlock layer' : 'Lock layer', (d) => setLayerProperties(d, layer.id, { locked: !layer.locked }));
                }}
              >
                {layer.locked ? '⊠' : '□'}
              </button>
              <button type="button" aria-label="Move layer up" data-testid="layer-up" disabled={index === doc.layers.length - 1} onClick={(e) => { e.stopPropagation(); edit('Move layer', (d) => moveLayer(d, layer.id, index + 1)); }}>
                ▲
              </button>
              <button type="button" aria-label="Move layer down" data-testid="layer-down" disabled={index === 0} onClick={(e) => { e.stopPropagation(); edit('Move layer', (d) => moveLayer(d, layer.id, index - 1)); }}>
                ▼
              </button>
              <button type="button" aria-label="Rename layer" onClick={(e) => { e.stopPropagation(); setRenaming(layer.id); }}>
                ✏
              </button>
              <button type="button" aria-label="Delete layer" data-testid="layer-delete" onClick={(e) => { e.stopPropagation(); edit('Delete layer', (d) => removeLayer(d, layer.id)); }}>
                ✕
              </button>
              {layer.id === selected && (
                <label className="opacity" onClick={(e) => e.stopPropagation()}>
                  <span className="label">Opacity</span>
                  <input
                    type="range"
                    min={0}
                    max={1}
                    step={0.01}
                    value={layer.opacity}
                    data-testid="layer-opacity"
                    onPointerDown={() => history.beginGesture('Change opacity')}
                    onPointerUp={() => history.endGesture()}
                    onChange={(e) => edit('Change opacity', (d) => setLayerProperties(d, layer.id, { opacity: e.target.valueAsNumber }))}
                  />
                </label>
              )}
            </li>
          );
        })}
      </ol>
      {layers.length === 0 && <p className="hint">Draw on the canvas to start a sketch layer, or drop an image.</p>}
    </section>
  );
}
