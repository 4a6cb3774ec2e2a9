import { ApiError, ApiResponse, type ExportFormat, OpenedProject } from '../../../app/contract/index.js';
import { type DocumentSession } from '../state/document.js';
import { type StudioController, errorMessage } from '../state/studio.js';
import { adoptOpened, pushDocument } from './projects.js';

// The web door's own file handling: the browser's file picker sends the file's bytes (the
// studio cannot read a path on the artist's computer), and exports come back as browser
// downloads (main/web/files.ts). The desktop app has native dialogs instead.

export type DownloadFormat = ExportFormat | 'atelier';

/** Whether the UI runs in a browser against `npm run web` rather than inside the desktop app. */
export function isWebDoor(): boolean {
  return !window.atelier;
}

async function answer(response: Response): Promise<unknown> {
  return parseAnswer(response.status, await response.text());
}

/** The result of one of the web door's own routes (an ApiResponse), or its error thrown. */
export function parseAnswer(status: number, body: string): unknown {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new ApiError('internal', `The studio answered ${status} without a readable body`);
  }
  const parsed = ApiResponse.safeParse(raw);
  if (!parsed.success) throw new ApiError('internal', 'Malformed response from the studio');
  if (!parsed.data.ok) throw ApiError.from(parsed.data.error);
  return parsed.data.result;
}

/** Open from this computer: uploads the chosen .atelier / .ora / .psd and opens it in place of the current project. */
export async function openUploadedProject(studio: StudioController, session: DocumentSession, file: File): Promise<boolean> {
  const previous = session.session.get().sessionId;
  try {
    const response = await fetch(`/api/files/open?name=${encodeURIComponent(file.name)}`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/octet-stream' },
      body: file,
    });
    const opened = OpenedProject.parse(await answer(response));
    adoptOpened(studio, session, opened, previous);
    studio.toast('info', `Opened ${file.name}`);
    return true;
  } catch (error) {
    studio.toast('error', `Could not open ${file.name}: ${errorMessage(error)}`);
    return false;
  }
}

interface PreparedDownload {
  id: string;
  filename: string;
  bytes: number;
  savedPath?: string;
}

/**
 * Export (or, for 'atelier', save) the open project on the studio, then hand it to the browser
 * as a download through an <a download> element.
 */
export async function downloadProject(studio: StudioController, session: DocumentSession, format: DownloadFormat): Promise<boolean> {
  const { sessionId, path } = session.session.get();
  if (!sessionId) {
    studio.toast('error', 'The project is not connected to the studio; try New');
    return false;
  }
  try {
    await pushDocument(studio, session);
    const latest = [...session.doc.generations].reverse().find((g) => g.candidates.length > 0);
    if (format === 'contact-sheet' && !latest) throw new Error('there are no candidates to put on a contact sheet yet');
    const savedDoc = session.doc;
    const response = await fetch('/api/files/export', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        sessionId,
        format,
        name: session.doc.name,
        firstSave: format === 'atelier' && !path,
        ...(format === 'contact-sheet' && latest ? { generationId: latest.id } : {}),
      }),
    });
    const prepared = (await answer(response)) as PreparedDownload;
    if (format === 'atelier' && prepared.savedPath) {
      // The studio saved the project to produce the file: the editor is clean as of that copy.
      session.history.markSaved(savedDoc);
      session.session.set({ path: prepared.savedPath });
    }
    const link = document.createElement('a');
    link.href = `/api/files/download/${encodeURIComponent(prepared.id)}`;
    link.download = prepared.filename;
    link.rel = 'noopener';
    document.body.append(link);
    link.click();
    link.remove();
    studio.toast('info', `Downloading ${prepared.filename} (${Math.max(1, Math.round(prepared.bytes / 1024))} KiB)`);
    return true;
  } catch (error) {
    studio.toast('error', `Could not ${format === 'atelier' ? 'download the project' : 'export'}: ${errorMessage(error)}`);
    return false;
  }
}
