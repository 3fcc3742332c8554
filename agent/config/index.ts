/** The config module's public face. See README.md. */
export { loadConfig, type ConfigSource, type LoadOptions, type LoadResult } from './load.js';
export { describeSchema, schemaMarkdown, type OptionDescription, type SchemaDescription } from './describe.js';
export { CONFIG_VERSION, migrate, MIGRATIONS, type Migration } from './migrate.js';
export { EMBEDDED_DEFAULT } from './embedded-default.js';
export { envName, ROOT_SCHEMA } from './schema.js';
