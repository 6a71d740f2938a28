// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title Per-period ICNT rewards, claimed with Merkle proofs
/// @notice For each settlement period the distributor posts the root of a tree of (account, amount) leaves and
/// transfers the period's total in the same transaction. Leaves are OpenZeppelin StandardMerkleTree leaves,
/// `keccak256(bytes.concat(keccak256(abi.encode(account, amount))))`, built off-chain with the npm package
/// openzeppelin/merkle-tree over types ["address", "uint256"]; one leaf per account per period. Anyone may
/// submit a claim (the ICNT always goes to the leaf's account); each account claims a period once, and there is no
/// deadline: unclaimed rewards stay claimable.
contract RewardsDistributor is AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant DISTRIBUTOR_ROLE = keccak256("DISTRIBUTOR_ROLE");

    struct Period {
        bytes32 merkleRoot;
        uint256 funded;
        uint256 claimed;
    }

    IERC20 public immutable token;
    mapping(uint256 periodId => Period) public periods;
    mapping(uint256 periodId => mapping(address account => bool)) public hasClaimed;

    event PeriodPosted(uint256 indexed periodId, bytes32 merkleRoot, uint256 funded);
    event Claimed(uint256 indexed periodId, address indexed account, uint256 amount);

    error ZeroAddress();
    error ZeroRoot();
    error PeriodAlreadyPosted(uint256 periodId);
    error UnknownPeriod(uint256 periodId);
    error AlreadyClaimed(uint256 periodId, address account);
    error InvalidProof();
    /// A root promising more than its funding could otherwise pay claims out of other periods' funds.
    error PeriodOverdrawn(uint256 periodId);

    constructor(IERC20 token_, address admin, address distributor) {
        if (address(token_) == address(0) || admin == address(0) || distributor == address(0)) revert ZeroAddress();
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(DISTRIBUTOR_ROLE, distributor);
    }

    /// @notice Posts period `periodId`'s root and pulls `total` ICNT from the caller (approve it first).
    function postPeriod(uint256 periodId, bytes32 merkleRoot, uint256 total) external onlyRole(DISTRIBUTOR_ROLE) nonReentrant {
        if (merkleRoot == bytes32(0)) revert ZeroRoot();
        if (periods[periodId].merkleRoot != bytes32(0)) revert PeriodAlreadyPosted(periodId);
        periods[periodId] = Period({merkleRoot: merkleRoot, funded: total, claimed: 0});
        emit PeriodPosted(periodId, merkleRoot, total);
        token.safeTransferFrom(msg.sender, address(this), total);
    }

    function claim(uint256 periodId, address account, uint256 amount, bytes32[] calldata proof) external nonReentrant {
        Period storage period = periods[periodId];
        if (period.merkleRoot == bytes32(0)) revert UnknownPeriod(periodId);
        if (hasClaimed[periodId][account]) revert AlreadyClaimed(periodId, account);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, amount))));
        if (!MerkleProof.verifyCalldata(proof, period.merkleRoot, leaf)) revert InvalidProof();
        if (period.claimed + amount > period.funded) revert PeriodOverdrawn(periodId);
        hasClaimed[periodId][account] = true;
        period.claimed += amount;
        emit Claimed(periodId, account, amount);
        token.safeTransfer(account, amount);
    }
}
