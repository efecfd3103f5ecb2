import { randomUUID } from 'node:crypto';
import { HttpError } from './http.js';

/** What a console job does. */
export type JobKind = 'rebuild' | 'verify' | 'refresh' | 'reset' | 'skip';
/** Where a console job is. */
export type JobState = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** A long action started from the console, as the page sees it. */
export interface JobInfo {
  id: string;
  kind: JobKind;
  /** The projection or subscription acted on. */
  target: string;
  state: JobState;
  /** Events applied (or checked) so far, and how many in all when known. */
  done: number;
  total: number | null;
  /** What the job is doing now, e.g. a rebuild's `building`, `catching_up`, `swapping`. */
  phase: string | null;
  startedAt: string;
  finishedAt: string | null;
  ratePerSecond: number | null;
  etaSeconds: number | null;
  result: unknown;
  error: { code: string; message: string; hint?: string } | null;
}

/** Reports progress from inside a job. */
export type ReportProgress = (done: number, total: number | null, phase?: string) => void;

interface Job {
  info: JobInfo;
  started: number;
  /** Set by cancel(): the job's next progress report throws JobCancelled. */
  cancelRequested: boolean;
}

/** Thrown from a job's progress report once the job is asked to stop. */
class JobCancelled extends Error {
  constructor() {
    super('Cancelled from the console');
  }
}

const KEEP = 50;

/**
 * The actions the console started, kept in memory with their live progress, so the page can poll
 * progress without touching the database (the embedded engine is busy during a rebuild).
 */
export class JobBoard {
  readonly #jobs = new Map<string, Job>();
  readonly #describe: (error: unknown) => JobInfo['error'];

  constructor(describe: (error: unknown) => JobInfo['error']) {
    this.#describe = describe;
  }

  /** The job running on a target, if any. */
  running(target: string): JobInfo | undefined {
    for (const job of this.#jobs.values()) if (job.info.target === target && job.info.state === 'running') return job.info;
    return undefined;
  }

  /** The newest job on a target. */
  latest(target: string): JobInfo | undefined {
    let found: JobInfo | undefined;
    for (const job of this.#jobs.values()) if (job.info.target === target) found = job.info;
    return found;
  }

  list(): JobInfo[] {
    return [...this.#jobs.values()].map((job) => job.info).reverse();
  }

  get(id: string): JobInfo | undefined {
    return this.#jobs.get(id)?.info;
  }

  /** Whether any job is still running (closing the console waits for them). */
  async settled(): Promise<void> {
    while ([...this.#jobs.values()].some((job) => job.info.state === 'running')) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Stops the job running on a target at its next progress report (a rebuild reports after each
   * batch) and resolves once it has stopped; undefined when none runs.
   */
  async cancel(target: string): Promise<JobInfo | undefined> {
    const job = [...this.#jobs.values()].find((candidate) => candidate.info.target === target && candidate.info.state === 'running');
    if (!job) return undefined;
    job.cancelRequested = true;
    while (job.info.state === 'running') await new Promise((resolve) => setTimeout(resolve, 20));
    return job.info;
  }

  /**
   * Starts a job in the background and returns at once.
   * @throws {HttpError} 409 when a job is already running on the same target.
   */
  start(kind: JobKind, target: string, run: (report: ReportProgress) => Promise<unknown>): JobInfo {
    const busy = this.running(target);
    if (busy) {
      throw new HttpError(409, 'BUSY', `A ${busy.kind} of ${target} is already running (job ${busy.id})`, 'Wait for it to finish.');
    }
    const started = performance.now();
    const info: JobInfo = {
      id: randomUUID(),
      kind,
      target,
      state: 'running',
      done: 0,
      total: null,
      phase: null,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      ratePerSecond: null,
      etaSeconds: null,
      result: null,
      error: null,
    };
    const job: Job = { info, started, cancelRequested: false };
    this.#jobs.set(info.id, job);
    while (this.#jobs.size > KEEP) {
      const oldest = [...this.#jobs.values()].find((job) => job.info.state !== 'running');
      if (!oldest) break;
      this.#jobs.delete(oldest.info.id);
    }
    const report: ReportProgress = (done, total, phase) => {
      if (job.cancelRequested) throw new JobCancelled();
      info.done = done;
      info.total = total;
      info.phase = phase ?? info.phase;
      const seconds = (performance.now() - started) / 1000;
      info.ratePerSecond = seconds > 0 && done > 0 ? done / seconds : null;
      info.etaSeconds =
        info.ratePerSecond && total !== null ? Math.max(0, (total - done) / info.ratePerSecond) : null;
    };
    run(report).then(
      (result) => {
        info.state = 'succeeded';
        info.result = result ?? null;
        info.etaSeconds = 0;
        info.finishedAt = new Date().toISOString();
      },
      (error: unknown) => {
        info.state = error instanceof JobCancelled ? 'cancelled' : 'failed';
        info.error = error instanceof JobCancelled ? null : this.#describe(error);
        info.etaSeconds = null;
        info.finishedAt = new Date().toISOString();
      },
    );
    return info;
  }
}
