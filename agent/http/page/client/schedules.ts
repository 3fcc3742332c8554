/**
 * The schedules section: the battery scheduler's jobs (`GET /api/v1/optimizations`), newest first,
 * and for the newest jobs with a schedule two uPlot plots over the horizon: power per battery (with
 * the net power before and after the batteries) and state of charge per battery. Without a
 * scheduler service the section says so. "Refresh" reads the jobs again.
 */
import type uPlot from 'uplot';
import type { ScheduleResult } from '../../../../algorithms/scheduler/result.js';
import { api } from './api.js';
import { byId, el, scrollTable } from './dom.js';

interface JobSummary {
  id: string;
  status: string;
  created_at?: number;
  updated_at?: number;
}

interface Job extends JobSummary {
  model?: string;
  result?: ScheduleResult;
  error?: string;
}

export const PLOTTED_JOBS = 3;
const JOBS_LISTED = 10;
const COLOURS = ['#0b57a4', '#b35c00', '#176f2c', '#8a2be2', '#b00020', '#555555'];

const when = (ms: number | undefined): string => (typeof ms === 'number' ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');

function plot(parent: HTMLElement, title: string, x: number[], series: { label: string; values: number[]; dash?: boolean }[], unit: string): void {
  const U = window.uPlot;
  if (!U) return;
  const box = el('figure', { class: 'plot', 'aria-label': title });
  parent.append(box);
  const opts: uPlot.Options = {
    title,
    width: Math.max(200, box.clientWidth - 10),
    height: 200,
    scales: { x: { time: true } },
    series: [{}, ...series.map((s, k) => ({ label: `${s.label} (${unit})`, stroke: COLOURS[k % COLOURS.length]!, width: 1.5, ...(s.dash ? { dash: [5, 4] } : {}), paths: U.paths.stepped!({ align: 1 }) }))],
    axes: [{}, { size: 60, label: unit }],
  };
  const u = new U(opts, [x, ...series.map((s) => s.values)], box);
  new ResizeObserver(() => {
    const w = Math.max(200, box.clientWidth - 10);
    if (Math.abs(u.width - w) > 2) u.setSize({ width: w, height: 200 });
  }).observe(box);
}

export class SchedulesView {
  private readonly body = byId('schedules-body');

  async load(): Promise<void> {
    const r = await api<JobSummary[]>('/api/v1/optimizations');
    const refresh = el('button', { type: 'button', onclick: () => void this.load() }, 'Refresh');
    if (!r.ok) {
      const why = r.status === 404 ? 'No battery scheduler service is configured.' : `The schedules are not available: ${r.detail}`;
      this.body.replaceChildren(el('p', { class: 'muted' }, why), refresh);
      return;
    }
    const jobs = [...r.body].sort((a, b) => (b.created_at ?? 0) - (a.created_at ?? 0));
    const parts: HTMLElement[] = [el('div', { class: 'controls' }, el('span', { class: 'muted' }, jobs.length === 1 ? '1 job.' : `${jobs.length} jobs.`), refresh)];
    if (jobs.length)
      parts.push(scrollTable(['Job', 'Status', 'Created', 'Updated'], jobs.slice(0, JOBS_LISTED).map((j) => [j.id, j.status, when(j.created_at), when(j.updated_at)]), 'Jobs, newest first'));
    else parts.push(el('p', { class: 'muted' }, 'No schedules yet: submit one with POST /api/v1/optimizations.'));
    const plots = el('div', { class: 'plots' });
    parts.push(plots);
    this.body.replaceChildren(...parts);
    const done = jobs.filter((j) => j.status === 'success').slice(0, PLOTTED_JOBS);
    for (const j of done) {
      const one = await api<Job>(`/api/v1/optimizations/${encodeURIComponent(j.id)}`);
      const res = one.ok ? one.body.result : undefined;
      if (!res || !res.schedule.length) continue;
      this.plotJob(plots, j.id, res);
    }
  }

  private plotJob(parent: HTMLElement, id: string, res: ScheduleResult): void {
    const steps = res.schedule;
    const x = steps.map((s) => Date.parse(s.timestamp) / 1000);
    const batteries = [...new Set(steps.flatMap((s) => Object.keys(s.batteries)))].sort();
    const box = el('div', { class: 'card', 'data-job': id }, el('h3', {}, `Job ${id}`), el('p', { class: 'muted' }, `${res.control_logic.replace('_', ' ')}, ${res.status}; SoC ${res.soc_at.replace(/_/g, ' ')}`));
    parent.append(box);
    plot(
      box,
      'Power',
      x,
      [
        ...batteries.map((b) => ({ label: `${b} P (+ charging)`, values: steps.map((s) => s.batteries[b]?.P_bat_kW ?? NaN) })),
        { label: 'net before', values: steps.map((s) => s.P_net_before_kW), dash: true },
        { label: 'net after', values: steps.map((s) => s.P_net_after_kW), dash: true },
      ],
      'kW',
    );
    plot(box, 'State of charge', x, batteries.map((b) => ({ label: `${b} SoC`, values: steps.map((s) => (s.batteries[b]?.SoC ?? NaN) * 100) })), '%');
  }
}
