/** The package's own version (agent/core/version.ts), for the CLI. */
export { packageVersion } from '../core/version.js';
