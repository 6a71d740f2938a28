// The Reed-Solomon codec in workerd, the edge's isolate (it encodes every write); the cases are in test/protocol/.

import { describeReedSolomon } from "../protocol/erasure-codec-cases.ts";

describeReedSolomon();
