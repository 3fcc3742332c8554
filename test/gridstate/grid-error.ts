/** The GridInputError a call throws (any other error, or none, fails the test with what happened). */
import { GridInputError } from '../../algorithms/grid/errors.js';

export function gridError(f: () => unknown): GridInputError {
  try {
    f();
  } catch (e) {
    if (e instanceof GridInputError) return e;
    throw e;
  }
  throw new Error('no GridInputError thrown');
}
