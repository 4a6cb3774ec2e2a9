// Child process for library-crash.test.ts: writes generations (and deletes a few) as fast
// as it can, printing each one only after its transaction committed. The test SIGKILLs it.
import { randomBytes } from 'node:crypto';
import { openLibrary } from '../../app/library/index.js';

const home = process.argv[2];
if (!home) throw new Error('usage: library-crash-writer.ts HOME');
const library = openLibrary(home);
const live: string[] = [];
for (let i = 0; ; i++) {
  const seed = Number.parseInt(randomBytes(4).toString('hex'), 16);
  const g = await library.recordGeneration({
    request: { model: 'starter', prompt: `crash test ${i} ${seed}`, seed, batch: 2 },
    modelHash: 'a'.repeat(64),
    candidates: [0, 1].map((k) => ({ index: k, seed: seed + k, image: { width: 32, height: 32, data: randomBytes(32 * 32 * 4) } })),
  });
  process.stdout.write(`committed ${g.id} ${g.candidates.map((c) => c.sha256).join(' ')}\n`);
  live.push(g.id);
  if (i % 4 === 3) {
    const victim = live.shift()!;
    // Announced first: if the kill lands between commit and report, the test knows the
    // entry may be gone (wholly) or present (wholly).
    process.stdout.write(`deleting ${victim}\n`);
    library.delete([victim]);
    process.stdout.write(`deleted ${victim}\n`);
  }
}
