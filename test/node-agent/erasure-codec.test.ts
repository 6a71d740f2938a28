// The Reed-Solomon codec in Node, the node-agent's runtime (it decodes during repair); the cases are in test/protocol/.

import { describeReedSolomon } from "../protocol/erasure-codec-cases.ts";

describeReedSolomon();
