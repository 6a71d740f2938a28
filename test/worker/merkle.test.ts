// The pieces' Merkle tree in workerd, where the edge builds piece roots; the cases are in test/protocol/.

import { describeMerkleTree } from "../protocol/merkle-cases.ts";

describeMerkleTree();
