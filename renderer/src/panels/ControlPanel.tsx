import { useEffect, useState } from 'react';
import { type ControlLayer, type Layer, setCannyThresholds, setLayerProperties, updateLayer } from '../state/doc-ops.js';
import { cannyEdges } from '../canvas/canny.js';
import { makeCanvas, renderFrame } from '../canvas/raster.js';
import { cannyFromLayer, scribbleFromSketch } from '../state/actions.js';
import { controlWarning } from '../canvas/sources.js';
import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { errorMessage } from '../state/studio.js';
import { useDocument, useSelection } from '../state/useDocument.js';

const PREVIEW = 160;

/** Control layers: a sketch as scribble, an image as Canny edges; weight and step range each. */
export function ControlPanel({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const doc = useDocument(session);
  const selection = useSelection(session);
  const selected = doc.layers.find((l) => l.id === selection[0]);
  const controls = doc.layers.filter((l): l is ControlLayer => l.kind === 'control');
  const models = useUi((s) => s.models);
  const modelId = useUi((s) => s.settings.model);
  const model = models.find((m) => m.id === modelId);
  const [low, setLow] = useState(100);
  const [high, setHigh] = useState(200);
  const imageLayer = selected && (selected.kind === 'reference' || selected.kind === 'generated' || selected.kind === 'paint') ? selected : undefined;
  const edit = (label: string, fn: Parameters<typeof session.history.change>[0]) => {
    try {
      session.history.change(fn, label);
    } catch (error) {
      studio.toast('error', errorMessage(error));
    }
  };
  return (
    <section className="panel control-panel" aria-label="Control layers" data-testid="control-panel">
      <header className="panel-head">
        <h2>Control</h2>
      </header>
      <div className="row wrap">
        <button
          type="button"
          data-testid="scribble-from-sketch"
          disabled={selected?.kind !== 'sketch' && selected?.kind !== 'shapes'}
          onClick={() => selected && scribbleFromSketch(session, selected.id)}
          title="Select a sketch or shapes layer first: the scribble holds every visible stroke and shape"
        >
          Sketch → scribble
        </button>
        <button type="button" data-testid="canny-from-layer" disabled={!imageLayer} onClick={() => imageLayer && cannyFromLayer(session, imageLayer.id, low, high)} title="Select an image layer first">
          Image → Canny
        </button>
      </div>
      {imageLayer && (
        <div className="canny-settings">
          <label className="inline">
            <span className="label">Low {low}</span>
            <input type="range" min={0} max={255} value={low} data-testid="canny-low" onChange={(e) => setLow(Math.min(e.target.valueAsNumber, high))} />
          </label>
          <label className="inline">
            <span className="label">High {high}</span>
            <input type="range" min={0} max={255} value={high} data-testid="canny-high" onChange={(e) => setHigh(Math.max(e.target.valueAsNumber, low))} />
          </label>
          <CannyPreview session={session} layer={imageLayer} low={low} high={high} />
        </div>
      )}
      <ul className="controls">
        {controls.map((c) => (
          <li key={c.id} data-testid="control-layer">
            <div className="row">
              <strong>{c.name}</strong>
              <span className="muted">
                {c.controlType}
                {c.sourceLayerId ? ` ← ${doc.layers.find((l) => l.id === c.sourceLayerId)?.name ?? '?'}` : ''}
              </span>
              <button type="button" aria-pressed={c.visible} onClick={() => edit('Toggle control', (d) => setLayerProperties(d, c.id, { visible: !c.visible }))}>
                {c.visible ? 'On' : 'Off'}
              </button>
            </div>
            {controlWarning(c, model) && (
              <p className="control-warning" role="alert" data-testid="control-warning">
                ⚠ {controlWarning(c, model)}
              </p>
            )}
            <label className="inline">
              <span className="label">ControlNet</span>
              <input
                aria-label="ControlNet folder"
                placeholder="the model's own"
                defaultValue={c.model ?? ''}
                onBlur={(e) => {
                  const model = e.target.value.trim() || null;
                  if (model !== c.model) edit('ControlNet folder', (d) => updateLayer(d, c.id, 'control', { model }));
                }}
              />
            </label>
            <label className="inline">
              <span className="label">Weight {c.weight.toFixed(2)}</span>
              <input type="range" min={0} max={2} step={0.05} value={c.weight} data-testid="control-weight" onChange={(e) => edit('Control weight', (d) => updateLayer(d, c.id, 'control', { weight: e.target.valueAsNumber }))} />
            </label>
            <label className="inline">
              <span className="label">Start {c.start.toFixed(2)}</span>
              <input type="range" min={0} max={1} step={0.05} value={c.start} data-testid="control-start" onChange={(e) => edit('Control start', (d) => updateLayer(d, c.id, 'control', { start: Math.min(e.target.valueAsNumber, c.end) }))} />
            </label>
            <label className="inline">
              <span className="label">End {c.end.toFixed(2)}</span>
              <input type="range" min={0} max={1} step={0.05} value={c.end} data-testid="control-end" onChange={(e) => edit('Control end', (d) => updateLayer(d, c.id, 'control', { end: Math.max(e.target.valueAsNumber, c.start) }))} />
            </label>
            {c.preprocess === 'canny' && (
              <>
                <label className="inline">
                  <span className="label">Canny low {c.cannyLow}</span>
                  <input type="range" min={0} max={255} value={c.cannyLow} data-testid="control-canny-low" onChange={(e) => edit('Canny low threshold', (d) => setCannyThresholds(d, c.id, Math.min(e.target.valueAsNumber, c.cannyHigh), c.cannyHigh))} />
                </label>
                <label className="inline">
                  <span className="label">Canny high {c.cannyHigh}</span>
                  <input type="range" min={0} max={255} value={c.cannyHigh} data-testid="control-canny-high" onChange={(e) => edit('Canny high threshold', (d) => setCannyThresholds(d, c.id, c.cannyLow, Math.max(e.target.valueAsNumber, c.cannyLow)))} />
                </label>
              </>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Preview of the edges at a small size, with the thresholds the engine will use. */
function CannyPreview({ session, layer, low, high }: { session: DocumentSession; layer: Layer; low: number; high: number }) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const doc = session.doc;
    const scale = PREVIEW / Math.max(doc.canvas.width, doc.canvas.height);
    const size = { width: Math.max(1, Math.round(doc.canvas.width * scale)), height: Math.max(1, Math.round(doc.canvas.height * scale)) };
    void renderFrame(doc, session.assets, [{ ...layer, opacity: 1 }], { x: 0, y: 0, width: doc.canvas.width, height: doc.canvas.height }, size, '#000000').then(async (png) => {
      const img = new Image();
      img.src = `data:image/png;base64,${png}`;
      await img.decode();
      const { canvas, ctx } = makeCanvas(size.width, size.height);
      ctx.drawImage(img, 0, 0);
      const pixels = ctx.getImageData(0, 0, size.width, size.height);
      const edges = cannyEdges(pixels.data, size.width, size.height, low, high);
      for (let i = 0; i < edges.length; i++) {
        const v = edges[i] ?? 0;
        pixels.data[i * 4] = v;
        pixels.data[i * 4 + 1] = v;
        pixels.data[i * 4 + 2] = v;
        pixels.data[i * 4 + 3] = 255;
      }
      ctx.putImageData(pixels, 0, 0);
      if (live) setUrl(canvas.toDataURL());
    });
    return () => {
      live = false;
    };
  }, [session, layer, low, high]);
  return url ? <img className="canny-preview" src={url} alt="Canny edges preview" data-testid="canny-preview" /> : null;
}
