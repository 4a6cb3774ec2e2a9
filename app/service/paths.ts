import fs from 'node:fs/promises';
import path from 'node:path';
import { ApiError } from '../contract/errors.js';

// One check, shared by every place that writes a file the user named (projects.export in web
// and desktop mode, `atelier generate --out`): paths on kernel pseudo file systems and device
// nodes are refused before any work starts. Writing into /proc or /sys either fails late with a
// raw errno or never finishes (a recursive mkdir under /proc spins; opening a FIFO for writing
// blocks until a reader appears), so "no operation can hang on a path" (issue 17) needs the
// refusal up front, not a timeout afterwards.

/** Folders whose contents are kernel objects, not files: refused by name on Linux and macOS. */
const SPECIAL_ROOTS = ['/proc', '/sys', '/dev'];

/**
 * statfs(2) magic numbers of pseudo file systems (linux/magic.h). Catches a procfs or sysfs
 * mounted somewhere else, or reached through a symlink the name check cannot see.
 */
const SPECIAL_FS_TYPES = new Set<number>([
  0x9fa0, // proc
  0x62656572, // sysfs
  0x1cd1, // devpts
  0x64626720, // debugfs
  0x74726163, // tracefs
  0x73636673, // securityfs
  0x27e0eb, // cgroup
  0x63677270, // cgroup2
  0x62656570, // configfs
  0xcafe4a11, // bpf
  0x6165676c, // pstore
  0xde5e81e4, // efivarfs
  0x65735543, // fusectl
  0x19800202, // mqueue
]);

/** Windows device names that open a device whatever folder they are in (CON, NUL, COM1, …). */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

function within(resolved: string, root: string): boolean {
  return resolved === root || resolved.startsWith(`${root}/`);
}

/**
 * True for a path on a special file system by its name alone: under /proc, /sys or /dev on
 * POSIX systems; a `\\.\` or `\\?\GLOBALROOT` device path or a reserved device name on Windows.
 * Synchronous and free of I/O, for argument parsing; {@link assertWritableTarget} also follows
 * symlinks and asks the file system.
 */
export function isSpecialFilesystemPath(target: string, platform: NodeJS.Platform = process.platform): boolean {
  if (platform === 'win32') {
    const normal = target.replaceAll('/', '\\');
    if (/^\\\\[.?]\\/.test(normal) && !/^\\\\\?\\[a-z]:\\/i.test(normal) && !/^\\\\\?\\unc\\/i.test(normal)) return true;
    return normal.split('\\').some((part) => WINDOWS_DEVICE.test(part));
  }
  const resolved = path.posix.resolve(target);
  return SPECIAL_ROOTS.some((root) => within(resolved, root));
}

/** The nearest existing folder at or above `dir`, with symlinks resolved. */
async function existingAncestor(dir: string): Promise<{ real: string; isDirectory: boolean; path: string }> {
  let current = dir;
  for (;;) {
    try {
      const stat = await fs.stat(current);
      return { real: await fs.realpath(current), isDirectory: stat.isDirectory(), path: current };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const parent = path.dirname(current);
      // ENOTDIR: a file stands where a folder is needed; report it as such below.
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === current) throw error;
      current = parent;
    }
  }
}

async function onSpecialFilesystem(existing: string): Promise<boolean> {
  if (process.platform !== 'linux') return false;
  const stats = await fs.statfs(existing).catch(() => null); // cannot tell: the path-prefix check above still applies
  return stats !== null && SPECIAL_FS_TYPES.has(Number(stats.type));
}

function refuse(message: string, target: string): never {
  throw new ApiError('bad_request', message, { path: target });
}

/**
 * Checks, before any work, that `target` can be written as a regular file: refuses paths on
 * /proc, /sys, /dev and other pseudo file systems (also through symlinks), existing targets
 * that are not regular files (devices, FIFOs, sockets, folders), and a file standing where a
 * parent folder is needed. Missing parent folders are fine (the writer creates them).
 * Returns the absolute path. Throws ApiError `bad_request` with `details.path`.
 */
export async function assertWritableTarget(target: string): Promise<string> {
  const resolved = path.resolve(target);
  if (isSpecialFilesystemPath(resolved)) refuse(`Cannot write to ${resolved}: it is on a special file system (devices, /proc, /sys), not a folder for files`, resolved);
  // Not there (or not readable): nothing to check on the file itself; writing will say why it cannot.
  const stat = await fs.lstat(resolved).catch(() => null);
  if (stat) {
    // A dangling or unreadable link: judge the path as written, and what it points to as absent.
    const real = await fs.realpath(resolved).catch(() => resolved);
    const following = stat.isSymbolicLink() ? await fs.stat(resolved).catch(() => null) : stat; // dangling: nothing there yet
    if (real !== resolved && isSpecialFilesystemPath(real)) refuse(`Cannot write to ${resolved}: it leads to ${real}, on a special file system`, resolved);
    if (following?.isDirectory()) refuse(`Cannot write to ${resolved}: it is a folder`, resolved);
    if (following && !following.isFile()) refuse(`Cannot write to ${resolved}: it is not a regular file (a device, pipe or socket)`, resolved);
  }
  const ancestor = await existingAncestor(path.dirname(resolved));
  if (!ancestor.isDirectory) refuse(`Cannot write to ${resolved}: ${ancestor.path} is a file, not a folder`, resolved);
  if (isSpecialFilesystemPath(ancestor.real) || (await onSpecialFilesystem(ancestor.real))) {
    refuse(`Cannot write to ${resolved}: ${ancestor.real} is on a special file system (devices, /proc, /sys), not a folder for files`, resolved);
  }
  return resolved;
}

/**
 * The same checks for a folder to be written into (e.g. `atelier generate --out DIR`): refuses
 * special file systems and an existing non-folder at `dir`. Returns the absolute path.
 */
export async function assertWritableFolder(dir: string): Promise<string> {
  const resolved = path.resolve(dir);
  if (isSpecialFilesystemPath(resolved)) refuse(`Cannot write into ${resolved}: it is on a special file system (devices, /proc, /sys), not a folder for files`, resolved);
  const stat = await fs.stat(resolved).catch(() => null); // a folder not made yet is fine: the writer creates it
  if (stat && !stat.isDirectory()) refuse(`Cannot write into ${resolved}: it is a file, not a folder`, resolved);
  const ancestor = await existingAncestor(resolved);
  if (!ancestor.isDirectory) refuse(`Cannot write into ${resolved}: ${ancestor.path} is a file, not a folder`, resolved);
  if (isSpecialFilesystemPath(ancestor.real) || (await onSpecialFilesystem(ancestor.real))) {
    refuse(`Cannot write into ${resolved}: ${ancestor.real} is on a special file system (devices, /proc, /sys), not a folder for files`, resolved);
  }
  return resolved;
}
