// Binding the hono app to a Node HTTP server, and closing it without cutting requests in flight.

import type { Server } from "node:http";
import { serve } from "@hono/node-server";

/** Drop a connection that sends or accepts nothing for this long (a stalled upload frees its temp file). */
const SOCKET_IDLE_TIMEOUT_MS = 120_000;

export type FetchHandler = Parameters<typeof serve>[0]["fetch"];

export interface Listening {
  server: Server;
  host: string;
  port: number;
  /**
   * Stops accepting connections and resolves once every request in flight has finished, or after
   * `timeoutMs` by cutting the rest.
   */
  close(timeoutMs: number): Promise<"drained" | "forced">;
}

export function listen(fetch: FetchHandler, host: string, port: number): Promise<Listening> {
  // Handlers are counted as well as connections: a client may close its socket while its upload is
  // still being fsynced, and that work must finish before the process exits.
  let handlersRunning = 0;
  let onHandlersDone: (() => void) | undefined;
  const trackedFetch: FetchHandler = async (request, env) => {
    handlersRunning++;
    try {
      return await fetch(request, env);
    } finally {
      if (--handlersRunning === 0) onHandlersDone?.();
    }
  };

  return new Promise((resolve, reject) => {
    const server = serve({
      fetch: trackedFetch,
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
      const handlersDone = () =>
        new Promise<void>((done) => {
          if (handlersRunning === 0) return done();
          onHandlersDone = done;
        });
      resolve({ server, host, port: address.port, close: (timeoutMs) => closeGracefully(server, handlersDone, timeoutMs) });
    });
  });
}

/** HOST:PORT as the ready line reports it, with IPv6 hosts in brackets. */
export function formatAddress(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function closeGracefully(server: Server, handlersDone: () => Promise<void>, timeoutMs: number): Promise<"drained" | "forced"> {
  const connectionsClosed = new Promise<void>((resolve) => server.close(() => resolve()));
  // server.close() alone waits for keep-alive sockets too; close each one as soon as it goes idle.
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  let deadline: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"forced">((resolve) => {
    deadline = setTimeout(() => {
      server.closeAllConnections();
      resolve("forced");
    }, timeoutMs);
  });
  const drained = Promise.all([connectionsClosed, handlersDone()]).then(() => "drained" as const);
  return Promise.race([drained, timedOut]).finally(() => {
    clearInterval(sweep);
    clearTimeout(deadline);
  });
}
