import { open } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
const file = await open("/tmp/dbg/x.bin", "w");
console.log("opened");
await pipeline([Buffer.from("abc")], async function* (src) { for await (const c of src) yield c; }, file.createWriteStream({ autoClose: false }));
console.log("piped");
await file.sync(); await file.close();
console.log("done");
