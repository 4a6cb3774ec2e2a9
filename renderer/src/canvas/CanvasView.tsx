import type Konva from 'konva';
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { Ellipse, Layer as KLayer, Line, Rect, Shape as KShape, Stage, Text } from 'react-konva';
import {
  type MaskLayer,
  addShape,
  addStroke,
  createLayer,
  newId,
  setLayerImage,
  updateSettings as updateDocumentSettings,
} from '../../../app/projects/document/index.js';
import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { errorMessage } from '../state/studio.js';
import { FRAME_HANDLES, type FrameHandle, handlePosition, resizeFrame } from './frame.js';
import { LayerNode, native } from './LayerNodes.js';
import { blankMask, drawStrokes, fillMaskRect, paintMask, traceStroke } from './raster.js';
import { type Point, type Rect as Box, fitToView, panBy, rectFromDrag, screenToCanvas, wheelZoomFactor, zoomAt } from './viewport.js';

type Draft =
  | { kind: 'stroke'; points: number[] }
  | { kind: 'box'; tool: 'rect' | 'ellipse' | 'region' | 'line'; from: Point; to: Point }
  | { kind: 'pan'; last: Point }
  | { kind: 'frame'; offset: Point }
  | { kind: 'resize'; handle: FrameHandle; start: Box };

const MASK_COLOUR = '#ff3b6b';

/** The mask layer tools paint into, made (black = keep everything) when there is none. */
export function ensureMaskLayer(session: DocumentSession): MaskLayer {
  const { width, height } = session.doc.canvas;
  return session.targetLayer('mask', () =>
    createLayer('mask', { image: session.addAsset(blankMask(width, height)), x: 0, y: 0, width, height, colour: MASK_COLOUR }),
  );
}

/**
 * The canvas: the document's layers on a Konva stage, the generation frame, and the drawing
 * tools. A stroke in progress lives on an overlay layer and becomes one document edit (one
 * undo step) on pointer up, so drawing never re-renders the document.
 */
export function CanvasView({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const history = session.history;
  const doc = useSyncExternalStore(history.subscribe, () => history.document);
  const assets = useSyncExternalStore(session.session.subscribe, () => session.session.get().assets);
  const tool = useUi((s) => s.tool);
  const colour = useUi((s) => s.color);
  const strokeWidth = useUi((s) => s.strokeWidth);
  const viewport = useUi((s) => s.viewport);
  const frame = useUi((s) => s.frame);
  const frameWidth = useUi((s) => s.settings.width);
  const frameHeight = useUi((s) => s.settings.height);
  const host = useRef<HTMLDivElement>(null);
  const draftLine = useRef<Konva.Shape>(null);
  /** How the stroke in progress previews: brush strokes as they will be drawn (pressure included), masks at one width as they are painted. */
  const draftStyle = useRef({ colour: '#000000', width: 1, pressure: true });
  const draft = useRef<Draft | null>(null);
  const [box, setBox] = useState<Extract<Draft, { kind: 'box' }> | null>(null);
  const [size, setSize] = useState({ width: 800, height: 600 });
  const [spaceHeld, setSpaceHeld] = useState(false);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const observer = new ResizeObserver(([entry]) => {
      if (entry) setSize({ width: Math.max(1, Math.floor(entry.contentRect.width)), height: Math.max(1, Math.floor(entry.contentRect.height)) });
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  // Fit the document when a different one is shown (new, open) and once the view has a size;
  // later resizes (a panel opening) keep the artist's zoom.
  const measured = size.width !== 800 || size.height !== 600;
  const canvasWidth = doc.canvas.width;
  const canvasHeight = doc.canvas.height;
  useEffect(() => {
    const el = host.current;
    if (!el || !measured) return;
    const rect = el.getBoundingClientRect();
    studio.store.set({ viewport: fitToView({ width: canvasWidth, height: canvasHeight }, { width: rect.width, height: rect.height }) });
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

  const pointer = (stage: Konva.Stage | null): Point | null => stage?.getPointerPosition() ?? null;

  const onDown = useCallback(
    (e: Konva.KonvaEventObject<PointerEvent>) => {
      const stage = e.target.getStage();
      const screen = pointer(stage);
      if (!screen) return;
      const vp = studio.state.viewport;
      const at = screenToCanvas(vp, screen);
      const pressure = e.evt.pointerType === 'mouse' ? 0.5 : e.evt.pressure || 0.5;
      if (spaceHeld || tool === 'pan' || e.evt.button === 1) {
        draft.current = { kind: 'pan', last: screen };
        return;
      }
      if (e.evt.button !== 0) return;
      if (tool === 'select') {
        const f = studio.state.frame;
        const handle = e.target.name().match(/^frame-handle-(\w+)$/)?.[1] as FrameHandle | undefined;
        if (handle && FRAME_HANDLES.includes(handle)) {
          draft.current = { kind: 'resize', handle, start: { ...f, width: studio.state.settings.width, height: studio.state.settings.height } };
          return;
        }
        draft.current = { kind: 'frame', offset: { x: at.x - f.x, y: at.y - f.y } };
        return;
      }
      if (tool === 'brush' || tool === 'eraser' || tool === 'mask' || tool === 'mask-erase') {
        draft.current = { kind: 'stroke', points: [at.x, at.y, pressure] };
        const line = draftLine.current;
        if (line) {
          const masking = tool === 'mask' || tool === 'mask-erase';
          draftStyle.current = { colour: masking ? (tool === 'mask' ? MASK_COLOUR : '#202020') : tool === 'eraser' ? '#808080' : colour, width: strokeWidth, pressure: !masking };
          line.opacity(masking || tool === 'eraser' ? 0.6 : 1);
          line.visible(true);
          line.getLayer()?.batchDraw();
        }
        return;
      }
      const next = { kind: 'box' as const, tool: tool === 'rect' || tool === 'ellipse' || tool === 'region' || tool === 'line' ? tool : ('rect' as const), from: at, to: at };
      draft.current = next;
      setBox(next);
    },
    [spaceHeld, tool, colour, strokeWidth, studio],
  );

  const onMove = useCallback(
    (e: Konva.KonvaEventObject<PointerEvent>) => {
      const d = draft.current;
      if (!d) return;
      const screen = pointer(e.target.getStage());
      if (!screen) return;
      const vp = studio.state.viewport;
      if (d.kind === 'pan') {
        studio.store.set({ viewport: panBy(vp, screen.x - d.last.x, screen.y - d.last.y) });
        d.last = screen;
        return;
      }
      const at = screenToCanvas(vp, screen);
      if (d.kind === 'frame') {
        studio.store.set({ frame: { x: Math.round(at.x - d.offset.x), y: Math.round(at.y - d.offset.y) } });
        return;
      }
      if (d.kind === 'resize') {
        const { settings, models } = studio.state;
        const multiple = models.find((m) => m.id === settings.model)?.info?.sizeMultiple ?? 8;
        const next = resizeFrame(d.start, d.handle, at, multiple);
        if (next.width !== settings.width || next.height !== settings.height) studio.updateSettings(next);
        return;
      }
      if (d.kind === 'stroke') {
        const pressure = e.evt.pointerType === 'mouse' ? 0.5 : e.evt.pressure || 0.5;
        d.points.push(at.x, at.y, pressure);
        draftLine.current?.getLayer()?.batchDraw();
        return;
      }
      const next = { ...d, to: e.evt.shiftKey ? square(d.from, at) : at };
      draft.current = next;
      setBox(next);
    },
    [studio],
  );

  const commit = useCallback(async () => {
    const d = draft.current;
    draft.current = null;
    const line = draftLine.current;
    try {
      if (!d || d.kind === 'pan' || d.kind === 'frame') return;
      if (d.kind === 'resize') {
        // The size is the generation settings' width × height, which the document keeps:
        // the drag becomes one undo step there (the document first catches up with the
        // panel's size, not undoably), and undo hands the old size back to the panel.
        const { width, height } = studio.state.settings;
        if (width === d.start.width && height === d.start.height) return;
        history.applyRemote((doc) => updateDocumentSettings(doc, { width: d.start.width, height: d.start.height }));
        history.beginGesture('Resize frame');
        try {
          history.change((doc) => updateDocumentSettings(doc, { width, height }));
        } finally {
          history.endGesture();
        }
        return;
      }
      if (d.kind === 'stroke') {
        const width = studio.state.strokeWidth;
        if (tool === 'mask' || tool === 'mask-erase') {
          history.beginGesture(tool === 'mask' ? 'Paint mask' : 'Erase mask');
          try {
            const mask = ensureMaskLayer(session);
            const src = session.assets[mask.image.part] ?? blankMask(mask.width, mask.height);
            const local = d.points.map((v, i) => (i % 3 === 0 ? v - mask.x : i % 3 === 1 ? v - mask.y : v));
            const painted = await paintMask(src, mask, local, width, studio.state.maskFeather, tool === 'mask' ? 'paint' : 'erase');
            const ref = session.addAsset(painted);
            history.change((doc) => setLayerImage(doc, mask.id, ref));
          } finally {
            history.endGesture();
          }
        } else {
          history.beginGesture(tool === 'eraser' ? 'Erase' : 'Draw');
          try {
            const layer = session.targetLayer('sketch', () => createLayer('sketch', { strokes: [] }));
            history.change((doc) =>
              addStroke(doc, layer.id, { id: newId('s'), tool: tool === 'eraser' ? 'eraser' : 'brush', colour: studio.state.color, width, points: d.points.map((v) => Math.round(v * 100) / 100) }),
            );
          } finally {
            history.endGesture();
          }
        }
        return;
      }
      setBox(null);
      const r = rectFromDrag(d.from, d.to);
      if (d.tool !== 'line' && (r.width < 2 || r.height < 2)) return;
      history.beginGesture(`Draw ${d.tool}`);
      try {
        const layer = session.targetLayer('shapes', () => createLayer('shapes', { shapes: [] }));
        const style = { id: newId('h'), stroke: studio.state.color, strokeWidth: studio.state.strokeWidth, fill: null };
        const shape =
          d.tool === 'line'
            ? { type: 'line' as const, ...style, x1: d.from.x, y1: d.from.y, x2: d.to.x, y2: d.to.y }
            : d.tool === 'region'
              ? { type: 'region' as const, ...style, ...r, label: studio.state.regionLabel }
              : { type: d.tool === 'ellipse' ? ('ellipse' as const) : ('rectangle' as const), ...style, ...r };
        history.change((doc) => addShape(doc, layer.id, shape));
      } finally {
        history.endGesture();
      }
    } catch (error) {
      studio.toast('error', errorMessage(error));
    } finally {
      if (line) {
        line.visible(false);
        line.getLayer()?.batchDraw();
      }
    }
  }, [history, session, studio, tool]);

  const onWheel = useCallback(
    (e: Konva.KonvaEventObject<WheelEvent>) => {
      e.evt.preventDefault();
      const screen = pointer(e.target.getStage());
      if (!screen) return;
      const vp = studio.state.viewport;
      if (e.evt.ctrlKey || !e.evt.shiftKey) studio.store.set({ viewport: zoomAt(vp, screen, wheelZoomFactor(e.evt.deltaY)) });
      else studio.store.set({ viewport: panBy(vp, -e.evt.deltaY, 0) });
    },
    [studio],
  );

  const boxRect: Box | null = box ? rectFromDrag(box.from, box.to) : null;
  const cursor = spaceHeld || tool === 'pan' ? 'grab' : tool === 'select' ? 'move' : 'crosshair';
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
        onPointerUp={() => void commit()}
        onPointerLeave={() => void commit()}
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
            ref={draftLine}
            visible={false}
            listening={false}
            perfectDrawEnabled={false}
            sceneFunc={(ctx) => {
              const d = draft.current;
              if (d?.kind !== 'stroke') return;
              const style = draftStyle.current;
              const c = native(ctx);
              if (style.pressure) {
                drawStrokes(c, [{ id: 'draft', tool: 'brush', colour: style.colour, width: style.width, points: d.points }]);
                return;
              }
              c.save();
              c.strokeStyle = style.colour;
              c.lineWidth = style.width;
              c.lineCap = 'round';
              c.lineJoin = 'round';
              traceStroke(c, d.points);
              c.stroke();
              c.restore();
            }}
          />
          {box && boxRect && box.tool === 'line' && <Line points={[box.from.x, box.from.y, box.to.x, box.to.y]} stroke={colour} strokeWidth={strokeWidth} />}
          {box && boxRect && box.tool === 'ellipse' && (
            <Ellipse x={boxRect.x + boxRect.width / 2} y={boxRect.y + boxRect.height / 2} radiusX={boxRect.width / 2} radiusY={boxRect.height / 2} stroke={colour} strokeWidth={strokeWidth} />
          )}
          {box && boxRect && (box.tool === 'rect' || box.tool === 'region') && <Rect {...boxRect} stroke={colour} strokeWidth={strokeWidth} dash={box.tool === 'region' ? [6, 4] : undefined} />}
        </KLayer>
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
    </div>
  );
}

function square(from: Point, to: Point): Point {
  const side = Math.max(Math.abs(to.x - from.x), Math.abs(to.y - from.y));
  return { x: from.x + Math.sign(to.x - from.x || 1) * side, y: from.y + Math.sign(to.y - from.y || 1) * side };
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
