// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title The public record of storage audits: round commitments, epoch anchors and validators' operational keys
/// @notice Three records, each written once:
///  - A challenge round is committed (by the auditor, the edge's protocol key) before its challenges exist. The
///    block the commitment was mined in fixes the round's seed block (a fixed number of blocks later), whose hash
///    is the seed: neither the edge nor a node chooses it. A round is committed once; a retried step reads the
///    recorded commitment back instead.
///  - At the end of each epoch the auditor anchors the Merkle root of the epoch's verdicts, so audit history
///    cannot be rewritten afterwards.
///  - A validator's stake address (its NodeStaking bond) authorizes one operational key that signs its
///    attestations, so the stake key stays cold. A key serves one validator for good: once bound, no other
///    validator can ever claim it, so an attestation signed by a key is never attributed to someone else later.
///    The stake address itself cannot be its operational key. Every address that ever authorized a key is listed
///    (`validatorCount` / `validatorsPage`), which is how the edge enumerates candidates for stake-weighted
///    selection; whether each is staked is NodeStaking's answer.
contract AuditLog is AccessControl {
    bytes32 public constant AUDITOR_ROLE = keccak256("AUDITOR_ROLE");

    struct RoundCommitment {
        bytes32 commitment;
        uint64 blockNumber;
    }

    struct EpochAnchor {
        bytes32 verdictRoot;
        uint32 rounds;
        uint64 blockNumber;
    }

    mapping(uint64 roundId => RoundCommitment) private _rounds;
    mapping(uint64 epoch => EpochAnchor) private _epochs;
    mapping(address validator => address key) private _operationalKeys;
    /// The validator a key was first bound to; kept after revocation so the key is never rebound to another.
    mapping(address key => address validator) private _keyOwners;
    address[] private _validators;
    mapping(address validator => bool) private _listed;

    event RoundCommitted(uint64 indexed roundId, bytes32 commitment, uint64 blockNumber);
    event EpochAnchored(uint64 indexed epoch, bytes32 verdictRoot, uint32 rounds, uint64 blockNumber);
    event OperationalKeySet(address indexed validator, address indexed key, address previousKey);

    error ZeroAddress();
    error RoundAlreadyCommitted(uint64 roundId, bytes32 commitment, uint64 blockNumber);
    error EpochAlreadyAnchored(uint64 epoch, bytes32 verdictRoot);
    error KeyIsStakeAddress(address key);
    error KeyBoundToAnotherValidator(address key, address validator);

    constructor(address admin, address auditor) {
        if (admin == address(0) || auditor == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(AUDITOR_ROLE, auditor);
    }

    // ---- Rounds

    function commitRound(uint64 roundId, bytes32 commitment) external onlyRole(AUDITOR_ROLE) {
        RoundCommitment storage round = _rounds[roundId];
        // block.number is never 0 in a transaction, so a recorded block marks a committed round.
        if (round.blockNumber != 0) revert RoundAlreadyCommitted(roundId, round.commitment, round.blockNumber);
        round.commitment = commitment;
        round.blockNumber = uint64(block.number);
        emit RoundCommitted(roundId, commitment, uint64(block.number));
    }

    /// @return commitment zero and blockNumber 0 while the round is not committed.
    function roundCommitment(uint64 roundId) external view returns (bytes32 commitment, uint64 blockNumber) {
        RoundCommitment storage round = _rounds[roundId];
        return (round.commitment, round.blockNumber);
    }

    // ---- Epochs

    function anchorEpoch(uint64 epoch, bytes32 verdictRoot, uint32 rounds) external onlyRole(AUDITOR_ROLE) {
        EpochAnchor storage anchor = _epochs[epoch];
        if (anchor.blockNumber != 0) revert EpochAlreadyAnchored(epoch, anchor.verdictRoot);
        anchor.verdictRoot = verdictRoot;
        anchor.rounds = rounds;
        anchor.blockNumber = uint64(block.number);
        emit EpochAnchored(epoch, verdictRoot, rounds, uint64(block.number));
    }

    /// @return verdictRoot zero, rounds 0 and blockNumber 0 while the epoch is not anchored.
    function epochAnchor(uint64 epoch) external view returns (bytes32 verdictRoot, uint32 rounds, uint64 blockNumber) {
        EpochAnchor storage anchor = _epochs[epoch];
        return (anchor.verdictRoot, anchor.rounds, anchor.blockNumber);
    }

    // ---- Operational keys

    /// @notice Authorizes `key` to sign the caller's attestations, replacing any key authorized before; the zero
    /// address revokes. Setting the key already authorized changes nothing.
    function setOperationalKey(address key) external {
        address previous = _operationalKeys[msg.sender];
        if (key == previous) return;
        if (key != address(0)) {
            if (key == msg.sender) revert KeyIsStakeAddress(key);
            address owner = _keyOwners[key];
            if (owner == address(0)) _keyOwners[key] = msg.sender;
            else if (owner != msg.sender) revert KeyBoundToAnotherValidator(key, owner);
        }
        _operationalKeys[msg.sender] = key;
        if (!_listed[msg.sender]) {
            _listed[msg.sender] = true;
            _validators.push(msg.sender);
        }
        emit OperationalKeySet(msg.sender, key, previous);
    }

    /// @return The key `validator` authorizes now; zero when none.
    function operationalKeyOf(address validator) external view returns (address) {
        return _operationalKeys[validator];
    }

    /// @return The validator `key` signs for now; zero when the key is not (or no longer) authorized.
    function validatorOf(address key) external view returns (address) {
        address owner = _keyOwners[key];
        return key != address(0) && _operationalKeys[owner] == key ? owner : address(0);
    }

    /// @notice How many addresses ever authorized an operational key.
    function validatorCount() external view returns (uint256) {
        return _validators.length;
    }

    /// @notice Up to `limit` listed validators from `offset`, in the order they first authorized a key, each with
    /// its current operational key (zero when revoked).
    function validatorsPage(uint256 offset, uint256 limit) external view returns (address[] memory validators, address[] memory keys) {
        uint256 length = _validators.length;
        uint256 count = offset >= length ? 0 : (limit < length - offset ? limit : length - offset);
        validators = new address[](count);
        keys = new address[](count);
        for (uint256 i = 0; i < count; i++) {
            validators[i] = _validators[offset + i];
            keys[i] = _operationalKeys[validators[i]];
        }
    }
}
