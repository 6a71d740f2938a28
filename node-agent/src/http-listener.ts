// Binding the hono app to a Node HTTP server, and closing it without cutting requests in flight.

import type { Server } from "node:http";
import { serve } from "@hono/node-server";

/** Drop a connection that sends or accepts nothing for this long (a stalled upload frees its temp file). */
const SOCKET_IDLE_TIMEOUT_MS = 120_000;

export interface Listening {
  server: Server;
  host: string;
  port: number;
}

export type FetchHandler = Parameters<typeof serve>[0]["fetch"];

export function listen(fetch: FetchHandler, host: string, port: number): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server = serve({
      fetch,
      hostname: host,
      port,
      // Node's default 300 s limit on receiving a whole request would cut multi-GiB uploads short.
      serverOptions: { requestTimeout: 0 },
    }) as Server;
    server.timeout = SOCKET_IDLE_TIMEOUT_MS;
    server.once("error", reject);
    server.once("listening", () => {
      server.off("error", reject);
      const address = server.address();
      if (address === null || typeof address === "string") return reject(new Error("server did not bind a TCP port"));
      resolve({ server, host, port: address.port });
    });
  });
}

/** HOST:PORT as the ready line reports it, with IPv6 hosts in brackets. */
export function formatAddress(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Stops accepting connections and resolves once every request in flight has finished, or after
 * `timeoutMs` by cutting the rest. Idle keep-alive sockets are closed as they go idle, which
 * server.close() alone would wait on.
 */
export function closeGracefully(server: Server, timeoutMs: number): Promise<"drained" | "forced"> {
  return new Promise((resolve) => {
    const finish = (outcome: "drained" | "forced") => {
      clearInterval(sweep);
      clearTimeout(deadline);
      resolve(outcome);
    };
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    const deadline = setTimeout(() => {
      server.closeAllConnections();
      finish("forced");
    }, timeoutMs);
    server.close(() => finish("drained"));
    server.closeIdleConnections();
  });
}
