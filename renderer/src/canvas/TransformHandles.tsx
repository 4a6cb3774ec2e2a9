import { Group, Layer as KLayer, Rect, Text } from 'react-konva';
import { rotatePoint, turnedCorners } from '../../../app/projects/document/index.js';
import { CORNERS, type Placed, ROTATE_HANDLE_OFFSET } from './gestures/transform.js';

// The transform tool's handles (docs/canvas.md, "Move, scale, rotate, flip"): a square on each
// corner of the turned layer (scale), a round one above its top edge (rotate) and two buttons
// below it (flip left↔right, flip top↔bottom). The names are what the gesture reads as the
// pressed target; a mask gets corners only (it moves and scales only).

const CORNER_ORDER = ['nw', 'ne', 'se', 'sw'] as const;

export function TransformHandles({ layer, scale }: { layer: Placed; scale: number }) {
  const placement = layer.kind === 'mask' ? { x: layer.x, y: layer.y, width: layer.width, height: layer.height } : layer;
  const rotation = layer.kind === 'mask' ? 0 : (layer.rotation ?? 0);
  const corners = turnedCorners(placement);
  const side = 12 / scale;
  const centre = { x: layer.x + layer.width / 2, y: layer.y + layer.height / 2 };
  // Off the edges' midpoints, turned with the layer.
  const above = rotatePoint({ x: centre.x, y: layer.y - ROTATE_HANDLE_OFFSET / scale }, centre, rotation);
  const below = (dx: number) => rotatePoint({ x: centre.x + dx / scale, y: layer.y + layer.height + 22 / scale }, centre, rotation);
  return (
    <KLayer name="transform-handles">
      {CORNERS.map((c) => {
        const at = corners[CORNER_ORDER.indexOf(c)]!;
        return <Rect key={c} name={`transform-handle-${c}`} x={at.x} y={at.y} offsetX={side / 2} offsetY={side / 2} rotation={rotation} width={side} height={side} fill="#ffffff" stroke="#6aa9ff" strokeWidth={2 / scale} hitStrokeWidth={0} />;
      })}
      {layer.kind !== 'mask' && (
        <>
          <Rect name="transform-handle-rotate" x={above.x} y={above.y} offsetX={side / 2} offsetY={side / 2} width={side} height={side} cornerRadius={side / 2} fill="#6aa9ff" stroke="#ffffff" strokeWidth={2 / scale} hitStrokeWidth={0} />
          {(
            [
              ['flip-x', '⇋', -14],
              ['flip-y', '⇵', 14],
            ] as const
          ).map(([name, glyph, dx]) => {
            const at = below(dx);
            const s = 20 / scale;
            return (
              <Group key={name} x={at.x} y={at.y} rotation={rotation}>
                <Rect name={`transform-handle-${name}`} x={-s / 2} y={-s / 2} width={s} height={s} cornerRadius={3 / scale} fill="#1e2430" stroke="#6aa9ff" strokeWidth={1 / scale} hitStrokeWidth={0} />
                <Text x={-s / 2} y={-s / 2} width={s} height={s} text={glyph} align="center" verticalAlign="middle" fontSize={14 / scale} fill="#ffffff" listening={false} />
              </Group>
            );
          })}
        </>
      )}
    </KLayer>
  );
}
