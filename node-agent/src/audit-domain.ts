// The edge's audit domain as this node knows it: the EIP-712 domain and the address whose signature makes a
// challenge assignment genuine (GET /api/v1/validators/domain, src/protocol/validator-session.ts). Fetched once
// and kept; fetched again when a signature does not recover to the kept signer (the edge may have rotated its
// audit key), at most once per `minRefetchMs`, so forged assignments cannot make the node hammer the edge.

import type { AuditDomainInfo } from "../../src/protocol/validator-session.ts";

export type LoadAuditDomain = (signal?: AbortSignal) => Promise<AuditDomainInfo>;

export const DEFAULT_AUDIT_DOMAIN_REFETCH_MS = 30_000;

export class AuditDomainCache {
  private readonly load: LoadAuditDomain;
  private readonly minRefetchMs: number;
  private readonly clock: () => number;
  private current: Promise<AuditDomainInfo> | undefined;
  private loadedAt = Number.NEGATIVE_INFINITY;

  constructor(load: LoadAuditDomain, options: { minRefetchMs?: number; clock?: () => number } = {}) {
    this.load = load;
    this.minRefetchMs = options.minRefetchMs ?? DEFAULT_AUDIT_DOMAIN_REFETCH_MS;
    this.clock = options.clock ?? (() => performance.now());
  }

  /** The kept document, fetched on first use; a failed fetch is not kept (the next call tries again). */
  get(): Promise<AuditDomainInfo> {
    if (this.current === undefined) {
      const loading = this.load();
      this.current = loading;
      this.loadedAt = this.clock();
      loading.catch(() => {
        if (this.current === loading) this.current = undefined;
      });
    }
    return this.current;
  }

  /**
   * Fetches the document again because `stale` did not verify a signature: the new one, or undefined when it was
   * fetched less than `minRefetchMs` ago (then nothing new is to be learned yet).
   */
  async refetch(stale: AuditDomainInfo): Promise<AuditDomainInfo | undefined> {
    const kept = await this.current?.catch(() => undefined);
    if (kept !== undefined && kept !== stale) return kept; // another request refetched meanwhile
    if (this.clock() - this.loadedAt < this.minRefetchMs) return undefined;
    this.current = undefined;
    return this.get();
  }
}
