import type { ControlInput } from '../../contract/index.js';
import { flattenOnto } from '../image.js';
import type { RgbaImage } from '../pipeline/types.js';
import { canny, edgeMapToRgba } from './canny.js';
import { scribbleMap } from './scribble.js';

export * from './canny.js';
export * from './field.js';
export * from './mask.js';
export * from './scribble.js';

/**
 * The control map a ControlNet receives for one ControlInput: the image as given (flattened
 * onto white where it is transparent), Canny edges of it, or a scribble map of a sketch.
 * Resizing to the generation size is left to the caller.
 */
export function preprocessControl(image: RgbaImage, control: Pick<ControlInput, 'preprocess' | 'cannyLow' | 'cannyHigh'>): RgbaImage {
  switch (control.preprocess) {
    case 'none':
      return hasTransparency(image) ? flattenOnto(image) : image;
    case 'canny':
      return edgeMapToRgba(canny(hasTransparency(image) ? flattenOnto(image) : image, { low: control.cannyLow, high: control.cannyHigh }));
    case 'scribble':
      return scribbleMap(image);
  }
}

function hasTransparency(image: RgbaImage): boolean {
  for (let i = 3; i < image.data.length; i += 4) if (image.data[i] !== 255) return true;
  return false;
}
