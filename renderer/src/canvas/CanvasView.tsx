import type Konva from 'konva';
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { Layer as KLayer, Rect, Shape as KShape, Stage, Text } from 'react-konva';
import { setLayerImage } from '../../../app/projects/document/index.js';
import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { errorMessage } from '../state/studio.js';
import { FRAME_HANDLES, handlePosition } from './frame.js';
import { type Gesture, type GestureContext, type PointerSample, type Preview, TOOLS, panGesture } from './gestures/index.js';
import { flipPlan, isPlaced } from './gestures/transform.js';
import { TransformHandles } from './TransformHandles.js';
import { LayerNode, native } from './LayerNodes.js';
import { type PlanEnv, applyLive, applyPlan, ensureMaskLayer } from './plan.js';
import { blankMask, drawShape, drawStrokes, fillMaskRect, traceStroke } from './raster.js';
import { MAX_SCALE, type Rect as Box, fitToView, panBy, screenToCanvas, wheelZoomFactor, zoomAt } from './viewport.js';

export { ensureMaskLayer };

const HINT_MS = 3500;

/**
 * The canvas: the document's layers on a Konva stage, the generation frame, and the drawing
 * tools. What a tool does lives in its gesture module (gestures/): pointer samples go in, a
 * plan comes out, and plan.ts carries it out — live view changes at once, the document edits
 * as one undo step on pointer up. A stroke in progress is drawn on the overlay from the
 * gesture's preview, so drawing never re-renders the document.
 */
export function CanvasView({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const history = session.history;
  const doc = useSyncExternalStore(history.subscribe, () => history.document);
  const assets = useSyncExternalStore(session.session.subscribe, () => session.session.get().assets);
  const tool = useUi((s) => s.tool);
  const selection = useSyncExternalStore(history.subscribe, () => history.selection);
  const selectedLayer = doc.layers.find((l) => l.id === selection[0]);
  /** The layer the transform tool shows handles on. */
  const transformed = isPlaced(selectedLayer) && selectedLayer.visible ? selectedLayer : undefined;
  const viewport = useUi((s) => s.viewport);
  const frame = useUi((s) => s.frame);
  const frameWidth = useUi((s) => s.settings.width);
  const frameHeight = useUi((s) => s.settings.height);
  const host = useRef<HTMLDivElement>(null);
  const overlay = useRef<Konva.Shape>(null);
  /** The gesture in progress and its state. */
  const active = useRef<{ gesture: Gesture<unknown>; state: unknown } | null>(null);
  /** What the overlay shows: the gesture in progress, or the last one until its plan is applied. */
  const drafted = useRef<{ gesture: Gesture<unknown>; state: unknown } | null>(null);
  const [size, setSize] = useState({ width: 800, height: 600 });
  const [spaceHeld, setSpaceHeld] = useState(false);
  const [hint, setHint] = useState<{ message: string; at: number } | null>(null);

  useEffect(() => {
    if (!hint) return;
    const timer = setTimeout(() => setHint(null), HINT_MS);
    return () => clearTimeout(timer);
  }, [hint]);

  const env = useMemo<PlanEnv>(() => ({ studio, session, hint: (message) => setHint({ message, at: Date.now() }) }), [studio, session]);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const observer = new ResizeObserver(([entry]) => {
      if (entry) setSize({ width: Math.max(1, Math.floor(entry.contentRect.width)), height: Math.max(1, Math.floor(entry.contentRect.height)) });
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  // Fit the document (filling the view, above 100 % too) when a different one is shown (new,
  // open) and once the view has a size; later resizes (a panel opening) keep the artist's zoom.
  const measured = size.width !== 800 || size.height !== 600;
  const canvasWidth = doc.canvas.width;
  const canvasHeight = doc.canvas.height;
  useEffect(() => {
    const el = host.current;
    if (!el || !measured) return;
    const rect = el.getBoundingClientRect();
    studio.store.set({ viewport: fitToView({ width: canvasWidth, height: canvasHeight }, { width: rect.width, height: rect.height }, 24, MAX_SCALE) });
  }, [doc.id, canvasWidth, canvasHeight, measured, studio]);

  useEffect(() => {
    const down = (e: KeyboardEvent) => {
      if (e.code === 'Space' && !isTyping(e.target)) {
        e.preventDefault();
        setSpaceHeld(true);
      }
    };
    const up = (e: KeyboardEvent) => {
      if (e.code === 'Space') setSpaceHeld(false);
    };
    window.addEventListener('keydown', down);
    window.addEventListener('keyup', up);
    return () => {
      window.removeEventListener('keydown', down);
      window.removeEventListener('keyup', up);
    };
  }, []);

  // Shift+H / Shift+V flip the selected layer while the transform tool is on (docs/canvas.md).
  useEffect(() => {
    const flip = (e: KeyboardEvent) => {
      if (studio.state.tool !== 'transform' || !e.shiftKey || e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return;
      const axis = e.key.toLowerCase() === 'h' ? 'x' : e.key.toLowerCase() === 'v' ? 'y' : null;
      if (!axis) return;
      e.preventDefault();
      const plan = flipPlan(history.document, history.selection, axis);
      if ('hint' in plan) env.hint(plan.hint);
      else void applyPlan(plan, env).catch((error: unknown) => studio.toast('error', errorMessage(error)));
    };
    window.addEventListener('keydown', flip);
    return () => window.removeEventListener('keydown', flip);
  }, [studio, history, env]);

  // Undo/redo of a frame resize changes the document's generation size: the panel follows.
  // Only within one document (a project opened or made anew sets the panel itself).
  useEffect(() => {
    let previous = history.document;
    return history.subscribe(() => {
      const next = history.document;
      const before = previous;
      previous = next;
      if (next.id !== before.id || next.settings === before.settings) return;
      const { width, height } = next.settings;
      const panel = studio.state.settings;
      if (width !== undefined && height !== undefined && (width !== panel.width || height !== panel.height)) studio.updateSettings({ width, height });
    });
  }, [history, studio]);

  /** What gestures may read, taken fresh at each event. */
  const context = useCallback((): GestureContext => {
    const s = studio.state;
    return {
      doc: history.document,
      selection: history.selection,
      colour: s.color,
      width: s.strokeWidth,
      maskFeather: s.maskFeather,
      regionLabel: s.regionLabel,
      viewport: s.viewport,
      frame: { ...s.frame, width: s.settings.width, height: s.settings.height },
      sizeMultiple: s.models.find((m) => m.id === s.settings.model)?.info?.sizeMultiple ?? 8,
    };
  }, [history, studio]);

  const sample = (e: Konva.KonvaEventObject<PointerEvent>): PointerSample | null => {
    const screen = e.target.getStage()?.getPointerPosition();
    if (!screen) return null;
    return {
      screen,
      at: screenToCanvas(studio.state.viewport, screen),
      pressure: e.evt.pointerType === 'mouse' ? 0.5 : e.evt.pressure || 0.5,
      button: e.evt.button,
      shift: e.evt.shiftKey,
      target: e.target.name(),
    };
  };

  const redrawOverlay = () => {
    const shape = overlay.current;
    if (!shape) return;
    shape.visible(drafted.current !== null);
    shape.getLayer()?.batchDraw();
  };

  const onDown = (e: Konva.KonvaEventObject<PointerEvent>) => {
    const p = sample(e);
    if (!p) return;
    const gesture = spaceHeld || e.evt.button === 1 ? panGesture : TOOLS[tool].gesture;
    const step = gesture.begin(p, context());
    applyLive(step.ops, env);
    active.current = step.state === null ? null : { gesture, state: step.state };
    drafted.current = active.current;
    redrawOverlay();
  };

  const onMove = (e: Konva.KonvaEventObject<PointerEvent>) => {
    const current = active.current;
    if (!current) return;
    const p = sample(e);
    if (!p) return;
    const step = current.gesture.move(current.state, p, context());
    if (step.state !== null) current.state = step.state;
    applyLive(step.ops, env);
    if (current.gesture.preview) redrawOverlay();
  };

  const onUp = () => {
    const current = active.current;
    active.current = null;
    if (!current) return;
    const plan = current.gesture.end(current.state, context());
    const done = plan ? applyPlan(plan, env) : Promise.resolve();
    // The overlay keeps the draft until the document shows the mark, so a stroke never blinks.
    void done
      .catch((error: unknown) => studio.toast('error', errorMessage(error)))
      .finally(() => {
        if (drafted.current === current) drafted.current = null;
        redrawOverlay();
      });
  };

  const onWheel = useCallback(
    (e: Konva.KonvaEventObject<WheelEvent>) => {
      e.evt.preventDefault();
      const screen = e.target.getStage()?.getPointerPosition();
      if (!screen) return;
      const vp = studio.state.viewport;
      if (e.evt.ctrlKey || !e.evt.shiftKey) studio.store.set({ viewport: zoomAt(vp, screen, wheelZoomFactor(e.evt.deltaY)) });
      else studio.store.set({ viewport: panBy(vp, -e.evt.deltaY, 0) });
    },
    [studio],
  );

  const cursor = spaceHeld ? 'grab' : TOOLS[tool].cursor;
  return (
    <div
      className="canvas-host"
      ref={host}
      data-testid="canvas"
      data-tool={tool}
      data-scale={viewport.scale.toFixed(4)}
      data-vx={viewport.x.toFixed(2)}
      data-vy={viewport.y.toFixed(2)}
      data-layers={doc.layers.length}
      data-doc={doc.id}
      data-canvas={`${doc.canvas.width}x${doc.canvas.height}`}
      data-frame={`${frame.x},${frame.y},${frameWidth},${frameHeight}`}
      style={{ cursor }}
      tabIndex={0}
      aria-label="Canvas"
    >
      <Stage
        width={size.width}
        height={size.height}
        x={viewport.x}
        y={viewport.y}
        scaleX={viewport.scale}
        scaleY={viewport.scale}
        onPointerDown={onDown}
        onPointerMove={onMove}
        onPointerUp={onUp}
        onPointerLeave={onUp}
        onWheel={onWheel}
      >
        <KLayer listening={false}>
          <Rect x={0} y={0} width={doc.canvas.width} height={doc.canvas.height} fill={doc.canvas.background} shadowColor="#000" shadowBlur={12} shadowOpacity={0.5} />
        </KLayer>
        {doc.layers.map((layer) => (
          <LayerNode key={layer.id} layer={layer} assets={assets} canvasWidth={doc.canvas.width} canvasHeight={doc.canvas.height} />
        ))}
        <KLayer listening={false} name="overlay">
          <Rect
            x={frame.x}
            y={frame.y}
            width={frameWidth}
            height={frameHeight}
            stroke="#6aa9ff"
            strokeWidth={2 / viewport.scale}
            dash={[8 / viewport.scale, 6 / viewport.scale]}
            name="generation-frame"
          />
          <Text x={frame.x} y={frame.y - 18 / viewport.scale} text={`${frameWidth}×${frameHeight}`} fontSize={12 / viewport.scale} fill="#6aa9ff" />
          <KShape
            ref={overlay}
            visible={false}
            listening={false}
            perfectDrawEnabled={false}
            sceneFunc={(ctx) => {
              const shown = drafted.current;
              const preview = shown?.gesture.preview?.(shown.state);
              if (preview) drawPreview(native(ctx), preview, studio.state.viewport.scale);
            }}
          />
        </KLayer>
        {tool === 'transform' && transformed && <TransformHandles layer={transformed} scale={viewport.scale} />}
        {tool === 'select' && (
          <KLayer name="frame-handles">
            {FRAME_HANDLES.map((h) => {
              const at = handlePosition({ ...frame, width: frameWidth, height: frameHeight }, h);
              const side = 12 / viewport.scale;
              return (
                <Rect
                  key={h}
                  name={`frame-handle-${h}`}
                  x={at.x - side / 2}
                  y={at.y - side / 2}
                  width={side}
                  height={side}
                  fill="#6aa9ff"
                  stroke="#ffffff"
                  strokeWidth={1 / viewport.scale}
                  hitStrokeWidth={0}
                  onPointerEnter={(e) => {
                    const container = e.target.getStage()?.container();
                    if (container) container.style.cursor = h === 'right' ? 'ew-resize' : h === 'bottom' ? 'ns-resize' : 'nwse-resize';
                  }}
                  onPointerLeave={(e) => {
                    const container = e.target.getStage()?.container();
                    if (container) container.style.cursor = '';
                  }}
                />
              );
            })}
          </KLayer>
        )}
      </Stage>
      {hint && (
        <p className="canvas-hint" role="status" data-testid="canvas-hint" key={hint.at}>
          {hint.message}
        </p>
      )}
    </div>
  );
}

/** A gesture's preview on the overlay: strokes as they will be drawn, masks at one width, shapes as drawn. */
function drawPreview(c: CanvasRenderingContext2D, preview: Preview, scale: number): void {
  c.save();
  if (preview.kind === 'box') {
    const { x, y, width, height, rotation = 0 } = preview.rect;
    // Turned about the box's centre, as the layer will be (app/projects/document/placement.ts).
    c.translate(x + width / 2, y + height / 2);
    c.rotate((rotation * Math.PI) / 180);
    c.translate(-(x + width / 2), -(y + height / 2));
    c.fillStyle = '#6aa9ff22';
    c.fillRect(x, y, width, height);
    c.strokeStyle = '#6aa9ff';
    c.lineWidth = 2 / scale;
    c.setLineDash([6 / scale, 4 / scale]);
    c.strokeRect(x, y, width, height);
  } else if (preview.kind === 'shape') {
    if (preview.dashed) c.setLineDash([6, 4]);
    drawShape(c, preview.shape);
  } else if (preview.pressure) {
    c.globalAlpha = preview.opacity;
    drawStrokes(c, [preview.stroke]);
  } else {
    c.globalAlpha = preview.opacity;
    c.strokeStyle = preview.stroke.colour;
    c.lineWidth = preview.stroke.width;
    c.lineCap = 'round';
    c.lineJoin = 'round';
    traceStroke(c, preview.stroke.points);
    c.stroke();
  }
  c.restore();
}

export function isTyping(target: EventTarget | null): boolean {
  return target instanceof HTMLElement && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT' || target.isContentEditable);
}

/** Mask from a region box: the box's area becomes "repaint". */
export async function maskFromBox(session: DocumentSession, rect: Box, feather: number): Promise<void> {
  const mask = ensureMaskLayer(session);
  const src = session.assets[mask.image.part] ?? blankMask(mask.width, mask.height);
  const filled = await fillMaskRect(src, mask, { ...rect, x: rect.x - mask.x, y: rect.y - mask.y }, feather);
  const ref = session.addAsset(filled);
  session.history.change((doc) => setLayerImage(doc, mask.id, ref), 'Mask from region');
}
