// A latency histogram with buckets 1% apart from 1 µs to about 100 s: fixed memory however many samples
// (a fanout run records millions), and mergeable, so client processes send theirs to the runner.
const GROWTH = Math.log(1.01);
const SIZE = 1900;

/** Counts of latencies (milliseconds) in logarithmic buckets; percentiles are within 1%. */
export class Histogram {
  constructor(counts = new Array(SIZE).fill(0)) {
    this.counts = counts;
    this.total = counts.reduce((sum, count) => sum + count, 0);
  }

  /** Latencies under 1 µs (or negative, from clock reading order) count as 1 µs. */
  record(milliseconds) {
    const micros = Math.max(1, milliseconds * 1000);
    this.counts[Math.min(SIZE - 1, Math.ceil(Math.log(micros) / GROWTH))]++;
    this.total++;
  }

  merge(other) {
    for (let index = 0; index < SIZE; index++) this.counts[index] += other.counts[index];
    this.total += other.total;
    return this;
  }

  /** The latency (ms) under which a fraction `q` of the samples fall; null without samples. */
  percentile(q) {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let index = 0; index < SIZE; index++) {
      seen += this.counts[index];
      if (seen >= rank) return Math.exp(index * GROWTH) / 1000;
    }
    return null;
  }

  /** p50, p99, p99.9 and the sample count, rounded for reports. */
  summary() {
    const round = (value) => (value === null ? null : Number(value.toFixed(value < 10 ? 2 : 1)));
    return { samples: this.total, p50: round(this.percentile(0.5)), p99: round(this.percentile(0.99)), p999: round(this.percentile(0.999)), max: round(this.percentile(1)) };
  }

  static from(counts) {
    return new Histogram([...counts]);
  }
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes of one machine. */
export function now() {
  return performance.timeOrigin + performance.now();
}
