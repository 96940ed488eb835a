// The runner's side of the load processes (load/worker.mjs): start them, call a scenario's client
// commands in all of them at once, stop them.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuSeconds } from './proc.mjs';

const WORKER = fileURLToPath(new URL('../load/worker.mjs', import.meta.url));

/** One forked load process. */
class LoadProcess {
  #nextId = 1;
  #pending = new Map();

  constructor(index) {
    this.index = index;
    /** Each process connects from its own loopback address, so that no address runs out of ports. */
    this.localAddress = `127.0.0.${2 + index}`;
    this.child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', ({ id, result, error }) => {
      const pending = this.#pending.get(id);
      this.#pending.delete(id);
      if (error) pending.reject(new Error(`load process ${index}: ${error}`));
      else pending.resolve(result);
    });
    this.child.on('exit', (code) => {
      for (const { reject } of this.#pending.values()) reject(new Error(`load process ${index} exited with ${code}`));
      this.#pending.clear();
    });
  }

  call(scenario, command, args = {}) {
    const id = this.#nextId++;
    this.child.send({ id, scenario, command, args: { localAddress: this.localAddress, ...args } });
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }

  stop() {
    if (this.child.exitCode !== null) return Promise.resolve();
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    return exited;
  }
}

/** `count` load processes for one scenario. */
export class LoadGroup {
  constructor(scenario, count) {
    this.scenario = scenario;
    this.processes = Array.from({ length: count }, (_, index) => new LoadProcess(index));
  }

  /** Runs `command` in every process; `argsFor(index)` gives each its arguments. Resolves with every result. */
  all(command, argsFor = () => ({})) {
    return Promise.all(this.processes.map((process, index) => process.call(this.scenario, command, argsFor(index))));
  }

  /** CPU seconds (user + system) the load processes have used so far, together. */
  cpuSeconds() {
    return this.processes.reduce((sum, process) => sum + cpuSeconds(process.child.pid), 0);
  }

  /** Runs `command` in the process `index` only. */
  one(index, command, args) {
    return this.processes[index].call(this.scenario, command, args);
  }

  stop() {
    return Promise.all(this.processes.map((process) => process.stop()));
  }
}

/** Splits `total` items into `parts` nearly equal consecutive ranges: [{ start, count }]. */
export function split(total, parts) {
  return Array.from({ length: parts }, (_, index) => {
    const start = Math.floor((total * index) / parts);
    return { start, count: Math.floor((total * (index + 1)) / parts) - start };
  });
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
