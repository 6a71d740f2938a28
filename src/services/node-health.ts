// What this isolate has seen of each node on the read path: recent latency (an EWMA and a rough p95) and
// recent failures. Reads go to the healthiest, fastest replica first and hedge a second request when the
// first is slower than its p95. Per isolate and short-lived: a hint, never a source of truth.

interface Health {
  ewmaMs: number;
  /** A slowly decaying estimate of the 95th percentile of response-header latency. */
  p95Ms: number;
  samples: number;
  failedAt?: number;
}

const FAILURE_PENALTY_MS = 30_000;
/** Hedging needs some history and never fires sooner than this. */
const MIN_SAMPLES_FOR_HEDGE = 20;
const MIN_HEDGE_MS = 20;

class NodeHealthTracker {
  private readonly nodes = new Map<string, Health>();

  recordLatency(nodeId: string, ms: number, now: number): void {
    const h = this.nodes.get(nodeId) ?? { ewmaMs: ms, p95Ms: ms, samples: 0 };
    h.ewmaMs = h.ewmaMs * 0.8 + ms * 0.2;
    // Moves up fast on slow samples and down slowly: an online approximation of a high percentile.
    h.p95Ms = ms > h.p95Ms ? h.p95Ms + (ms - h.p95Ms) * 0.25 : h.p95Ms - (h.p95Ms - ms) * 0.0125;
    h.samples++;
    if (h.failedAt !== undefined && now - h.failedAt > FAILURE_PENALTY_MS) h.failedAt = undefined;
    this.nodes.set(nodeId, h);
  }

  recordFailure(nodeId: string, now: number): void {
    const h = this.nodes.get(nodeId) ?? { ewmaMs: 0, p95Ms: 0, samples: 0 };
    h.failedAt = now;
    this.nodes.set(nodeId, h);
  }

  /** Replicas best first: no recent failure, then lowest recent latency (unknown nodes count as fast). */
  order<T extends { nodeId: string }>(replicas: readonly T[], now: number): T[] {
    const score = (r: T) => {
      const h = this.nodes.get(r.nodeId);
      const failed = h?.failedAt !== undefined && now - h.failedAt < FAILURE_PENALTY_MS;
      return (failed ? 1e9 : 0) + (h?.ewmaMs ?? 0);
    };
    return [...replicas].sort((a, b) => score(a) - score(b));
  }

  /** Whether this isolate saw `nodeId` fail within the failure penalty window. */
  recentlyFailed(nodeId: string, now: number): boolean {
    const failedAt = this.nodes.get(nodeId)?.failedAt;
    return failedAt !== undefined && now - failedAt < FAILURE_PENALTY_MS;
  }

  /** How long to wait on `nodeId` before hedging with another replica; undefined without enough history. */
  hedgeDelayMs(nodeId: string): number | undefined {
    const h = this.nodes.get(nodeId);
    if (!h || h.samples < MIN_SAMPLES_FOR_HEDGE) return undefined;
    return Math.max(MIN_HEDGE_MS, h.p95Ms);
  }
}

export const nodeHealth = new NodeHealthTracker();
