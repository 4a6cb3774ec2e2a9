// Where the UI loads library images from: the desktop's confined atelier:// protocol, or the
// web server's token-protected /media route. Components never build these URLs themselves.

export function libraryImageUrl(sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`Not a SHA-256: ${sha256}`);
  return window.atelier ? `atelier://library/${sha256}.png` : `/media/images/${sha256}.png`;
}
