export * from './api.js';
export * from './errors.js';
export * from './status.js';
export * from './library.js';
export * from './projects.js';
export * from './generation.js';
export * from './desktop.js';
export * from './prompts.js';
