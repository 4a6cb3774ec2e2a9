import {
  type Layer,
  type MaskLayer,
  addLayer,
  addShape,
  addStroke,
  createLayer,
  setLayerImage,
  updateLayer,
  updateSettings as updateDocumentSettings,
} from '../../../app/projects/document/index.js';
import { type DocumentSession } from '../state/document.js';
import { type StudioController } from '../state/studio.js';
import { MASK_COLOUR } from './gestures/mask.js';
import type { MaskArea, NewLayer, Op, Plan } from './gestures/types.js';
import { maskToolTarget } from './region-masks.js';
import { blankMask, blankPaint, fillMaskArea, paintMask, paintStroke, sourceUrl } from './raster.js';

// Carries out what gestures plan: live operations change the view at once; a plan's document
// operations run inside one History gesture, so a stroke and the layer it made undo together.

export interface PlanEnv {
  studio: StudioController;
  session: DocumentSession;
  /** Shows a refusal where the artist is looking (the canvas). */
  hint: (message: string) => void;
}

/** The mask layer tools paint into (maskToolTarget), made (black = keep everything) when there is none. */
export function ensureMaskLayer(session: DocumentSession): MaskLayer {
  const target = maskToolTarget(session.doc, session.history.selection[0]);
  if (target) {
    session.history.select([target.id]);
    return target;
  }
  const { width, height } = session.doc.canvas;
  const layer = createLayer('mask', { image: session.addAsset(blankMask(width, height)), x: 0, y: 0, width, height, colour: MASK_COLOUR });
  session.history.change((d) => addLayer(d, layer), 'Add mask layer');
  session.history.select([layer.id]);
  return layer;
}

function makeLayer(session: DocumentSession, spec: NewLayer): Layer {
  if (spec.kind === 'sketch') return createLayer('sketch', { id: spec.id, strokes: [] });
  if (spec.kind === 'shapes') return createLayer('shapes', { id: spec.id, shapes: [] });
  // A paint layer covers the canvas with transparent pixels the brush fills.
  const { width, height } = session.doc.canvas;
  return createLayer('paint', { id: spec.id, image: session.addAsset(blankPaint(width, height)), x: 0, y: 0, width, height });
}

/** Applies the live operations of a move (view, frame, hints); document ones wait for the plan. */
export function applyLive(ops: readonly Op[] | undefined, env: PlanEnv): void {
  for (const op of ops ?? []) {
    if (op.op === 'viewport') env.studio.store.set({ viewport: op.viewport });
    else if (op.op === 'frame') env.studio.store.set({ frame: { x: op.x, y: op.y } });
    else if (op.op === 'frame-size') env.studio.updateSettings({ width: op.width, height: op.height });
    else if (op.op === 'hint') env.hint(op.message);
  }
}

async function applyDocumentOp(op: Op, env: PlanEnv): Promise<void> {
  const { session } = env;
  const history = session.history;
  switch (op.op) {
    case 'create-layer': {
      const layer = makeLayer(session, op.layer);
      history.change((d) => addLayer(d, layer, Math.min(op.layer.index, d.layers.length)));
      return;
    }
    case 'select':
      history.select([op.layerId]);
      return;
    case 'add-stroke':
      history.change((d) => addStroke(d, op.layerId, op.stroke));
      return;
    case 'add-shape':
      history.change((d) => addShape(d, op.layerId, op.shape));
      return;
    case 'paint': {
      const layer = session.doc.layers.find((l) => l.id === op.layerId);
      if (layer?.kind !== 'paint') throw new Error('The paint layer is gone');
      const src = session.assets[layer.image.part];
      if (!src) throw new Error(`Layer “${layer.name}” refers to missing pixels`);
      const ref = session.addAsset(await paintStroke(src, layer, op.stroke));
      history.change((d) => setLayerImage(d, layer.id, ref));
      return;
    }
    case 'mask': {
      const mask = ensureMaskLayer(session);
      const src = session.assets[mask.image.part] ?? blankMask(mask.width, mask.height);
      const local = op.points.map((v, i) => (i % 3 === 0 ? v - mask.x : i % 3 === 1 ? v - mask.y : v));
      const ref = session.addAsset(await paintMask(src, mask, local, op.width, op.feather, op.mode));
      history.change((d) => setLayerImage(d, mask.id, ref));
      return;
    }
    case 'mask-area': {
      const mask = ensureMaskLayer(session);
      const src = sourceUrl(mask.image, session.assets) ?? blankMask(mask.width, mask.height);
      const area: MaskArea =
        op.area.kind === 'polygon'
          ? { kind: 'polygon', points: op.area.points.map((v, i) => v - (i % 2 === 0 ? mask.x : mask.y)) }
          : { kind: op.area.kind, rect: { ...op.area.rect, x: op.area.rect.x - mask.x, y: op.area.rect.y - mask.y } };
      const ref = session.addAsset(await fillMaskArea(src, mask, area, op.feather));
      history.change((d) => setLayerImage(d, mask.id, ref));
      return;
    }
    case 'place':
      history.change((d) => updateLayer(d, op.layerId, op.kind, op.placement));
      return;
    case 'commit-frame':
      history.applyRemote((d) => ({ ...d, frame: { x: op.x, y: op.y } }));
      return;
    case 'commit-frame-size':
      history.change((d) => updateDocumentSettings(d, op.to));
      return;
    default:
      applyLive([op], env);
  }
}

/** Runs a plan's operations as one undo step labelled with the plan's label. */
export async function applyPlan(plan: Plan, env: PlanEnv): Promise<void> {
  const history = env.session.history;
  // A frame resize: the document first catches up with the size the drag started from (not
  // undoably: the panel may have been ahead of it), so the step undoes to that size.
  for (const op of plan.ops) if (op.op === 'commit-frame-size') history.applyRemote((d) => updateDocumentSettings(d, op.from));
  history.beginGesture(plan.label);
  try {
    for (const op of plan.ops) await applyDocumentOp(op, env);
  } finally {
    history.endGesture();
  }
}
