#!/usr/bin/env node
// A bounded CPU load generator, to prove that the test suite does not depend on timing: it keeps
// every core busy with spinning worker threads while it runs a command (by default `npm test`),
// optionally several times in a row, and reports each run's exit code and duration.
//
//   node scripts/cpu-load.mjs [--workers N] [--max-seconds S] [--runs R] [-- command args...]
//   node scripts/cpu-load.mjs --max-seconds 60            (load only, no command)
//
// --workers      spinning threads (default: one per core, os.availableParallelism())
// --max-seconds  hard bound: the workers stop by themselves after this long, whatever happens
//                (default 3600); with a command they stop as soon as its last run ends
// --runs         how many times to run the command, one after the other (default 1)
//
// Exits with 0 when every run passed, else with the first failing run's exit code.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const SPIN = `
  const { workerData, parentPort } = require('node:worker_threads');
  const deadline = Date.now() + workerData.ms;
  let stop = false;
  parentPort.on('message', () => { stop = true; });
  // Spin in slices, yielding to the event loop in between so that a stop message gets through.
  const slice = () => {
    const end = Date.now() + 50;
    let x = 0;
    while (Date.now() < end) x = (x * 1103515245 + 12345) % 2147483648;
    if (stop || Date.now() >= deadline) { parentPort.close(); return; }
    setImmediate(slice);
  };
  slice();
`;

function parse(argv) {
  const options = { workers: availableParallelism(), maxSeconds: 3600, runs: 1, command: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--') {
      options.command = argv.slice(i + 1);
      break;
    }
    const value = Number(argv[i + 1]);
    if (!['--workers', '--max-seconds', '--runs'].includes(arg) || !Number.isInteger(value) || value < 1) {
      throw new Error(`usage: cpu-load.mjs [--workers N] [--max-seconds S] [--runs R] [-- command args...] (bad: ${arg} ${argv[i + 1] ?? ''})`);
    }
    if (arg === '--workers') options.workers = value;
    if (arg === '--max-seconds') options.maxSeconds = value;
    if (arg === '--runs') options.runs = value;
    i += 1;
  }
  return options;
}

function startLoad(workers, maxSeconds) {
  const threads = Array.from({ length: workers }, () => new Worker(SPIN, { eval: true, workerData: { ms: maxSeconds * 1000 } }));
  const ended = Promise.all(threads.map((thread) => new Promise((resolve) => thread.once('exit', resolve))));
  return {
    ended,
    async stop() {
      for (const thread of threads) thread.postMessage('stop');
      await ended;
    },
  };
}

function run(command) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command[0], command.slice(1), { stdio: 'inherit' });
    child.on('error', (error) => {
      console.error(`cpu-load: cannot run ${command.join(' ')}: ${error.message}`);
      resolve({ code: 127, seconds: (Date.now() - started) / 1000 });
    });
    child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), seconds: (Date.now() - started) / 1000 }));
  });
}

const options = parse(process.argv.slice(2));
const load = startLoad(options.workers, options.maxSeconds);
console.error(`cpu-load: ${options.workers} spinning thread(s), for at most ${options.maxSeconds} s`);
if (options.command.length === 0) {
  await load.ended;
  console.error('cpu-load: done');
} else {
  let loaded = true;
  void load.ended.then(() => (loaded = false));
  const results = [];
  for (let n = 1; n <= options.runs; n += 1) {
    console.error(`cpu-load: run ${n}/${options.runs}: ${options.command.join(' ')}`);
    results.push({ ...(await run(options.command)), loaded });
  }
  await load.stop();
  for (const [index, result] of results.entries()) {
    const note = result.loaded ? '' : ' (the load had reached --max-seconds and stopped before this run ended)';
    console.error(`cpu-load: run ${index + 1}: exit ${result.code} after ${result.seconds.toFixed(0)} s${note}`);
  }
  process.exitCode = results.find((result) => result.code !== 0)?.code ?? 0;
}
