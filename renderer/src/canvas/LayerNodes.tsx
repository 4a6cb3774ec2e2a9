import type Konva from 'konva';
import { memo } from 'react';
import { Image as KImage, Layer as KLayer, Shape as KShape } from 'react-konva';
import type { Layer, ProjectAssets } from '../../../app/projects/document/index.js';
import { drawShape, drawStrokes, loadImage, sourceUrl, tintMask } from './raster.js';
import { useLoaded } from './useLoaded.js';

// One Konva layer (its own <canvas>) per document layer: an eraser stroke cuts only its own
// layer, opacity composites the layer as a whole, and drawing on one layer never repaints
// the others. Sketch and shape layers draw all their strokes in one custom shape rather than
// one node per stroke, which keeps thousands of strokes cheap.

export function native(ctx: Konva.Context): CanvasRenderingContext2D {
  return (ctx as unknown as { _context: CanvasRenderingContext2D })._context;
}

const SketchContent = memo(function SketchContent({ layer }: { layer: Extract<Layer, { kind: 'sketch' }> }) {
  return (
    <KShape
      listening={false}
      perfectDrawEnabled={false}
      sceneFunc={(ctx) => {
        const c = native(ctx);
        drawStrokes(c, layer.strokes);
      }}
    />
  );
});

const ShapesContent = memo(function ShapesContent({ layer }: { layer: Extract<Layer, { kind: 'shapes' }> }) {
  return (
    <KShape
      listening={false}
      perfectDrawEnabled={false}
      sceneFunc={(ctx) => {
        const c = native(ctx);
        for (const shape of layer.shapes) drawShape(c, shape);
      }}
    />
  );
});

function RasterContent({ src, x, y, width, height, rotation = 0, flipX = false, flipY = false }: { src: string; x: number; y: number; width: number; height: number; rotation?: number; flipX?: boolean; flipY?: boolean }) {
  const image = useLoaded(src, loadImage);
  // Turned about its centre, mirrored first (app/projects/document/placement.ts): Konva applies scale before rotation.
  return image ? (
    <KImage image={image} x={x + width / 2} y={y + height / 2} offsetX={width / 2} offsetY={height / 2} width={width} height={height} rotation={rotation} scaleX={flipX ? -1 : 1} scaleY={flipY ? -1 : 1} listening={false} />
  ) : null;
}

function MaskContent({ src, colour, x, y, width, height }: { src: string; colour: string; x: number; y: number; width: number; height: number }) {
  const image = useLoaded(`${colour}${src}`, (key) => tintMask(key.slice(colour.length), colour));
  return image ? <KImage image={image} x={x} y={y} width={width} height={height} listening={false} /> : null;
}

/** A document layer on the stage; re-renders only when its own object changed. */
export const LayerNode = memo(function LayerNode({ layer, assets, canvasWidth, canvasHeight }: { layer: Layer; assets: ProjectAssets; canvasWidth: number; canvasHeight: number }) {
  let content = null;
  if (layer.kind === 'sketch') content = <SketchContent layer={layer} />;
  else if (layer.kind === 'shapes') content = <ShapesContent layer={layer} />;
  else if (layer.kind === 'control') {
    const src = layer.image ? assets[layer.image.part] : undefined;
    if (src) content = <RasterContent src={src} x={0} y={0} width={canvasWidth} height={canvasHeight} />;
  } else {
    const src = sourceUrl(layer.image, assets);
    if (src && layer.kind === 'mask') content = <MaskContent src={src} colour={layer.colour.slice(0, 7)} x={layer.x} y={layer.y} width={layer.width} height={layer.height} />;
    else if (src && layer.kind !== 'mask') content = <RasterContent src={src} x={layer.x} y={layer.y} width={layer.width} height={layer.height} rotation={layer.rotation} flipX={layer.flipX} flipY={layer.flipY} />;
  }
  return (
    <KLayer listening={false} visible={layer.visible} opacity={layer.opacity} name={`doc-layer layer-${layer.kind}`} id={layer.id} clipX={0} clipY={0} clipWidth={canvasWidth} clipHeight={canvasHeight}>
      {content}
    </KLayer>
  );
});
