import type { Store } from './store.js';

export interface Toast {
  id: number;
  kind: 'error' | 'info';
  message: string;
}

/** How long information stays; errors stay until dismissed. */
export const INFO_TOAST_MS = 4000;

/** Messages for the artist: errors stay until dismissed, information fades by itself. */
export class Toaster {
  private lastId = 0;

  constructor(private readonly store: Store<{ toasts: Toast[] }>) {}

  show(kind: Toast['kind'], message: string): void {
    const toast = { id: ++this.lastId, kind, message };
    this.store.set((s) => ({ toasts: [...s.toasts, toast] }));
    if (kind === 'info') setTimeout(() => this.dismiss(toast.id), INFO_TOAST_MS);
  }

  /** Shows `message` unless the same one is already up (a repeating failure says so once). */
  showOnce(kind: Toast['kind'], message: string): void {
    if (!this.store.get().toasts.some((t) => t.message === message)) this.show(kind, message);
  }

  dismiss(id: number): void {
    this.store.set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) }));
  }
}
