/** The result of one schedule, as `gridedge schedule` prints it. */

export interface ScheduleStep {
  timestamp: string;
  /** required − available, kW (positive: a deficit the grid would import). */
  P_net_before_kW: number;
  /** Import − export after the batteries, kW. */
  P_net_after_kW: number;
  /** Per battery id: power (positive = charging) and SoC as a fraction. */
  batteries: Record<string, { P_bat_kW: number; SoC: number }>;
}

export type SolveStatus = 'optimal' | 'time_limit' | 'infeasible' | 'failed';

export interface ScheduleResult {
  /** `success` for rule-based; the solver's outcome for the optimisation. */
  status: 'success' | SolveStatus;
  control_logic: 'rule_based' | 'optimization_based';
  model?: 'pymfm' | 'physical';
  /** Which SoC each step reports: after the step (rule-based) or at its start (optimisation). */
  soc_at: 'end_of_step' | 'start_of_step';
  /** Σ|P_net_after| + peak import + peak export (kW), the optimisation's objective. */
  objective: number | null;
  peak_imp_kW: number | null;
  peak_exp_kW: number | null;
  /** Relative MIP gap reported by the solver (0 when proved optimal within tolerance). */
  mip_gap?: number | null;
  /** Why no (optimal) schedule: the infeasible constraint family, or the limit reached. */
  reason?: string;
  /** Constraint families whose removal alone makes an infeasible job feasible. */
  infeasible_families?: string[];
  solve_ms?: number;
  /** How optimality was reached: the LP relaxation's solution already respected every switch, or branch and bound. */
  solved_by?: 'lp_relaxation' | 'branch_and_bound';
  /** SoC per battery at the end of the horizon. */
  final_SoC?: Record<string, number>;
  schedule: ScheduleStep[];
}
