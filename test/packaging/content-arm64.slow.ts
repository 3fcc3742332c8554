/** The arm64 package: contents, control fields, conffile, lintian (see content.ts). */
import { contentTests } from './content.js';

contentTests('arm64');
