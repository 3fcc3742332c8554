import { GridInputError } from './errors.js';
import type { Network } from './network.js';

export function parseCgmes(files: { file: string; text: string }[]): Network {
  throw new GridInputError('unsupported', `${files[0]?.file}: CGMES import not available yet`);
}
