// The pieces' Merkle tree in Node, where the node-agent proves repaired pieces; the cases are in test/protocol/.

import { describeMerkleTree } from "../protocol/merkle-cases.ts";

describeMerkleTree();
