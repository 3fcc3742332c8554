/**
 * The one error type of the grid algorithms: raised for bad input (a malformed file, an unknown bus,
 * an island without a slack, an unobservable set, a power flow that does not converge). Its message
 * names what is wrong and where; `reason` is a short stable word for counting.
 */
export type GridErrorReason =
  | 'syntax'
  | 'format'
  | 'reference'
  | 'unsupported'
  | 'island'
  | 'unobservable'
  | 'not_converged'
  | 'singular'
  | 'measurement';

export class GridInputError extends Error {
  readonly reason: GridErrorReason;
  /** Every problem found, one a line (the message joins them). */
  readonly problems: readonly string[];
  constructor(reason: GridErrorReason, problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.join('\n'));
    this.name = 'GridInputError';
    this.reason = reason;
    this.problems = list;
  }
}
