import { startInProcessAgent, newBlobId } from "../../test/node-agent/support/in-process-agent.ts";
import { BlobStore } from "../src/blob-store.ts";
const agent = await startInProcessAgent();
const id = newBlobId();
// direct store put
const rec = await agent.store.put(id, [Buffer.from("abc")]);
console.log("direct", rec);
const r0 = await fetch(agent.url + "/health"); console.log(r0.status, await r0.text());
const r1 = await fetch(agent.url + "/blobs/" + id, {method: "PUT", body: "x"}); console.log(r1.status, await r1.text());
const r = await agent.edgeFetch(`/blobs/${id}`); console.log(r.status, await r.text());
await agent.stop();
