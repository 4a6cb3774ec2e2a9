// Stands in for sharp in the GPU bundle (bench/gpu-device-run.sh): the bench's txt2img runs never
// decode, resize or encode an image, and sharp's 9 MB would not fit the GPU machine's 64 MiB tree.
export default function sharp(): never {
  throw new Error('sharp is not in the GPU bench bundle (bench/sharp-stub.ts): only txt2img without image files runs there');
}
