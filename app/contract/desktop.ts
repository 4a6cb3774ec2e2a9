import { z } from 'zod';

// Events only the desktop door sends: a menu item, a double-clicked .atelier file or a
// native dialog asked the UI to do something. Paths come from the OS dialog or the file
// association, never from the page; the UI answers with ordinary StudioApi calls.

export const DesktopCommand = z.enum([
  'project.new',
  /** `path`: the .atelier file chosen in the open dialog, from Open Recent, or double-clicked. */
  'project.open',
  'project.save',
  /** `path`: where the save dialog said to write. */
  'project.saveAs',
  /** `path`: the checkpoint file or diffusers folder chosen in the Import Model dialog. */
  'models.import',
]);
export type DesktopCommand = z.infer<typeof DesktopCommand>;

export const DesktopCommandEvent = z.object({
  type: z.literal('desktop.command'),
  command: DesktopCommand,
  path: z.string().min(1).optional(),
});
export type DesktopCommandEvent = z.infer<typeof DesktopCommandEvent>;

export const desktopEvents = [DesktopCommandEvent] as const;
