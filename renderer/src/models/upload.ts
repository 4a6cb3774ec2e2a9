import { ApiError, CHECKPOINT_COMPANIONS, CHECKPOINT_CONTENT_TYPE } from '../../../app/contract/index.js';
import { parseAnswer } from '../projects/web-files.js';

// Web mode's "Choose files…" in the model manager (main/web/model-upload.ts): the checkpoint's
// bytes, and any file the importer reads beside it (NAME.yaml, NAME.preview.png,
// NAME.atelier.json), are sent to the studio in one batch, the checkpoint last; its import then
// runs as a job the manager lists like any other. XMLHttpRequest, not fetch: only it reports
// upload progress.

/** The companion suffix a file name ends with, if any. */
const companionSuffix = (name: string) => CHECKPOINT_COMPANIONS.find((s) => name.toLowerCase().endsWith(s));

export interface UploadProgress {
  /** Bytes sent of all files, and their total. */
  sent: number;
  total: number;
  file: string;
}

export interface RunningUpload {
  /** The import job's id once the checkpoint is in. */
  done: Promise<string>;
  cancel(): void;
}

/** The checkpoint among the chosen files, and the companions that share its stem; an error naming what is wrong. */
export function pickUpload(files: readonly File[]): { checkpoint: File; companions: File[] } {
  const checkpoints = files.filter((f) => /\.safetensors$/i.test(f.name));
  if (checkpoints.length !== 1) throw new ApiError('bad_request', checkpoints.length === 0 ? 'Choose a .safetensors checkpoint (with its .yaml or .preview.png, if it has them)' : 'Choose one checkpoint at a time');
  const checkpoint = checkpoints[0]!;
  const stem = checkpoint.name.replace(/\.safetensors$/i, '').toLowerCase();
  const companions = files.filter((f) => {
    const suffix = f !== checkpoint ? companionSuffix(f.name) : undefined;
    return suffix !== undefined && f.name.slice(0, -suffix.length).toLowerCase() === stem;
  });
  const strays = files.filter((f) => f !== checkpoint && !companions.includes(f));
  if (strays.length > 0) throw new ApiError('bad_request', `${strays.map((f) => f.name).join(', ')}: only NAME.yaml, NAME.preview.png and NAME.atelier.json go with ${checkpoint.name}`);
  return { checkpoint, companions };
}

export function uploadCheckpoint(files: readonly File[], name: string | undefined, onProgress: (p: UploadProgress) => void): RunningUpload {
  const { checkpoint, companions } = pickUpload(files);
  const batch = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
  const total = [...companions, checkpoint].reduce((n, f) => n + f.size, 0);
  let current: XMLHttpRequest | undefined;
  let cancelled = false;
  const send = (file: File, before: number, isCheckpoint: boolean) =>
    new Promise<unknown>((resolve, reject) => {
      if (cancelled) return reject(new ApiError('cancelled', 'Upload cancelled'));
      const xhr = new XMLHttpRequest();
      current = xhr;
      const query = new URLSearchParams({ name: file.name, batch, ...(isCheckpoint && name ? { as: name } : {}) });
      xhr.open('POST', `/api/models/upload?${query.toString()}`);
      xhr.withCredentials = true;
      xhr.setRequestHeader('content-type', CHECKPOINT_CONTENT_TYPE);
      xhr.upload.onprogress = (e) => onProgress({ sent: before + e.loaded, total, file: file.name });
      xhr.onabort = () => reject(new ApiError('cancelled', 'Upload cancelled'));
      xhr.onerror = () => reject(new ApiError('internal', `The upload of ${file.name} failed (the studio closed the connection)`));
      xhr.onload = () => {
        try {
          resolve(parseAnswer(xhr.status, xhr.responseText));
        } catch (error) {
          reject(error);
        }
      };
      xhr.send(file);
    });
  const done = (async () => {
    let before = 0;
    for (const c of companions) {
      await send(c, before, false);
      before += c.size;
    }
    const result = (await send(checkpoint, before, true)) as { jobId: string };
    onProgress({ sent: total, total, file: checkpoint.name });
    return result.jobId;
  })();
  return {
    done,
    cancel: () => {
      cancelled = true;
      current?.abort();
    },
  };
}
