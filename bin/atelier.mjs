#!/usr/bin/env node
// The `atelier` command. TypeScript sources run through tsx's loader, so there is no
// separate build step for the Node side.
import { register } from 'tsx/esm/api';

register();
await import('../main/cli/main.ts');
