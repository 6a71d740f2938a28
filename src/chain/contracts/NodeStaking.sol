// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title Collateral of node operators and validators, in ICNT
/// @notice Operators stake per node: a node is keyed by `nodeKey = keccak256(bytes(nodeId))`, where nodeId is the
/// edge's id ("node_" + 16 hex digits). The first stake binds the key to its operator. The minimum a node needs is
/// proportional to the capacity it offers (`minimumNodeStake`); the capacity itself is what the operator signs in
/// the node's registration with the edge, which enforces the minimum there. Validators stake for themselves and
/// belong to the validator set while their bond is at least `minValidatorStake`.
///
/// Unbonding moves stake out of the bond at once (it stops counting) and releases it `unbondingPeriod` later.
/// Stake still unbonding can be slashed, so leaving does not escape a pending penalty. Only the slasher role (the
/// settlement/validator quorum key, later governance) slashes; each slash is capped at `maxSlashBps` of the stake
/// held, and the slashed ICNT goes to the treasury.
///
/// Every external function that moves tokens is nonReentrant and updates state before the transfer
/// (checks-effects-interactions).
contract NodeStaking is AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    uint256 public constant TIB = 1 << 40;
    uint256 public constant BPS = 10_000;
    uint64 public constant MAX_UNBONDING_PERIOD = 365 days;

    struct Bond {
        uint256 bonded;
        uint256 unbonding;
        uint64 unbondingEndsAt;
    }

    struct NodeStake {
        address operator;
        Bond bond;
    }

    IERC20 public immutable token;
    address public treasury;
    /// ICNT base units of stake required per TiB (2^40 bytes) of declared capacity, rounded up.
    uint256 public nodeStakePerTiB;
    uint256 public minValidatorStake;
    uint64 public unbondingPeriod;
    uint256 public maxSlashBps;

    mapping(bytes32 nodeKey => NodeStake) private _nodes;
    mapping(address validator => Bond) private _validators;

    event NodeStaked(bytes32 indexed nodeKey, address indexed operator, uint256 amount, uint256 bonded);
    event NodeToppedUp(bytes32 indexed nodeKey, address indexed operator, address indexed payer, uint256 amount, uint256 bonded);
    event NodeUnbondingStarted(bytes32 indexed nodeKey, address indexed operator, uint256 amount, uint256 bonded, uint64 endsAt);
    event NodeWithdrawn(bytes32 indexed nodeKey, address indexed operator, uint256 amount);
    event NodeSlashed(bytes32 indexed nodeKey, address indexed slasher, uint256 amount, uint256 bonded, bytes32 reason);
    event ValidatorStaked(address indexed validator, uint256 amount, uint256 bonded);
    event ValidatorUnbondingStarted(address indexed validator, uint256 amount, uint256 bonded, uint64 endsAt);
    event ValidatorWithdrawn(address indexed validator, uint256 amount);
    event ValidatorSlashed(address indexed validator, address indexed slasher, uint256 amount, uint256 bonded, bytes32 reason);
    event TreasuryChanged(address treasury);
    event NodeStakePerTiBChanged(uint256 nodeStakePerTiB);
    event MinValidatorStakeChanged(uint256 minValidatorStake);
    event UnbondingPeriodChanged(uint64 unbondingPeriod);
    event MaxSlashBpsChanged(uint256 maxSlashBps);

    error ZeroAmount();
    error ZeroAddress();
    error InvalidParameter();
    error NotNodeOperator(bytes32 nodeKey, address operator);
    /// Nobody has staked for this node: a top-up would bind it to no operator.
    error UnknownNode(bytes32 nodeKey);
    error InsufficientBond(uint256 requested, uint256 bonded);
    error NothingToWithdraw();
    error StillUnbonding(uint64 endsAt);
    error NothingToSlash();
    error SlashTooLarge(uint256 amount, uint256 limit);

    constructor(
        IERC20 token_,
        address admin,
        address slasher,
        address treasury_,
        uint256 nodeStakePerTiB_,
        uint256 minValidatorStake_,
        uint64 unbondingPeriod_,
        uint256 maxSlashBps_
    ) {
        if (address(token_) == address(0) || admin == address(0) || slasher == address(0)) revert ZeroAddress();
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(SLASHER_ROLE, slasher);
        _setTreasury(treasury_);
        _setNodeStakePerTiB(nodeStakePerTiB_);
        _setMinValidatorStake(minValidatorStake_);
        _setUnbondingPeriod(unbondingPeriod_);
        _setMaxSlashBps(maxSlashBps_);
    }

    // ---- Views

    /// @notice The least a node offering `capacityBytes` must keep bonded.
    function minimumNodeStake(uint256 capacityBytes) public view returns (uint256) {
        return Math.mulDiv(capacityBytes, nodeStakePerTiB, TIB, Math.Rounding.Ceil);
    }

    function nodeStake(bytes32 nodeKey)
        external
        view
        returns (address operator, uint256 bonded, uint256 unbonding, uint64 unbondingEndsAt)
    {
        NodeStake storage node = _nodes[nodeKey];
        return (node.operator, node.bond.bonded, node.bond.unbonding, node.bond.unbondingEndsAt);
    }

    function validatorStake(address validator)
        external
        view
        returns (uint256 bonded, uint256 unbonding, uint64 unbondingEndsAt)
    {
        Bond storage bond = _validators[validator];
        return (bond.bonded, bond.unbonding, bond.unbondingEndsAt);
    }

    function isValidator(address validator) external view returns (bool) {
        uint256 bonded = _validators[validator].bonded;
        return bonded > 0 && bonded >= minValidatorStake;
    }

    // ---- Node operators

    /// @notice Adds `amount` to the bond of node `nodeKey`; the first stake makes the caller its operator.
    function stakeNode(bytes32 nodeKey, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        NodeStake storage node = _nodes[nodeKey];
        if (node.operator == address(0)) node.operator = msg.sender;
        else if (node.operator != msg.sender) revert NotNodeOperator(nodeKey, msg.sender);
        node.bond.bonded += amount;
        emit NodeStaked(nodeKey, msg.sender, amount, node.bond.bonded);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Adds `amount` to the bond of a node that already has an operator, from the caller's tokens: how
    /// settlement puts an under-collateralized node's rewards into its stake (ICN's collateral rule). Anyone may pay
    /// it; the stake stays the operator's, who alone can unbond and withdraw it.
    function topUpNode(bytes32 nodeKey, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        NodeStake storage node = _nodes[nodeKey];
        if (node.operator == address(0)) revert UnknownNode(nodeKey);
        node.bond.bonded += amount;
        emit NodeToppedUp(nodeKey, node.operator, msg.sender, amount, node.bond.bonded);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    function unbondNode(bytes32 nodeKey, uint256 amount) external {
        NodeStake storage node = _onlyOperator(nodeKey);
        uint64 endsAt = _unbond(node.bond, amount);
        emit NodeUnbondingStarted(nodeKey, msg.sender, amount, node.bond.bonded, endsAt);
    }

    function withdrawNode(bytes32 nodeKey) external nonReentrant {
        NodeStake storage node = _onlyOperator(nodeKey);
        uint256 amount = _release(node.bond);
        emit NodeWithdrawn(nodeKey, msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ---- Validators

    function stakeValidator(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Bond storage bond = _validators[msg.sender];
        bond.bonded += amount;
        emit ValidatorStaked(msg.sender, amount, bond.bonded);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    function unbondValidator(uint256 amount) external {
        Bond storage bond = _validators[msg.sender];
        uint64 endsAt = _unbond(bond, amount);
        emit ValidatorUnbondingStarted(msg.sender, amount, bond.bonded, endsAt);
    }

    function withdrawValidator() external nonReentrant {
        uint256 amount = _release(_validators[msg.sender]);
        emit ValidatorWithdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ---- Slashing

    function slashNode(bytes32 nodeKey, uint256 amount, bytes32 reason) external onlyRole(SLASHER_ROLE) nonReentrant {
        NodeStake storage node = _nodes[nodeKey];
        _slash(node.bond, amount);
        emit NodeSlashed(nodeKey, msg.sender, amount, node.bond.bonded, reason);
        token.safeTransfer(treasury, amount);
    }

    function slashValidator(address validator, uint256 amount, bytes32 reason) external onlyRole(SLASHER_ROLE) nonReentrant {
        Bond storage bond = _validators[validator];
        _slash(bond, amount);
        emit ValidatorSlashed(validator, msg.sender, amount, bond.bonded, reason);
        token.safeTransfer(treasury, amount);
    }

    // ---- Governance parameters

    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(treasury_);
    }

    function setNodeStakePerTiB(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setNodeStakePerTiB(value);
    }

    function setMinValidatorStake(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMinValidatorStake(value);
    }

    function setUnbondingPeriod(uint64 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setUnbondingPeriod(value);
    }

    function setMaxSlashBps(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMaxSlashBps(value);
    }

    // ---- Internals

    function _onlyOperator(bytes32 nodeKey) private view returns (NodeStake storage node) {
        node = _nodes[nodeKey];
        if (node.operator != msg.sender) revert NotNodeOperator(nodeKey, msg.sender);
    }

    /// Unbonding more while stake is already unbonding restarts the clock for the whole unbonding amount.
    function _unbond(Bond storage bond, uint256 amount) private returns (uint64 endsAt) {
        if (amount == 0) revert ZeroAmount();
        if (amount > bond.bonded) revert InsufficientBond(amount, bond.bonded);
        bond.bonded -= amount;
        bond.unbonding += amount;
        endsAt = uint64(block.timestamp) + unbondingPeriod;
        bond.unbondingEndsAt = endsAt;
    }

    function _release(Bond storage bond) private returns (uint256 amount) {
        amount = bond.unbonding;
        if (amount == 0) revert NothingToWithdraw();
        if (block.timestamp < bond.unbondingEndsAt) revert StillUnbonding(bond.unbondingEndsAt);
        bond.unbonding = 0;
        bond.unbondingEndsAt = 0;
    }

    /// Takes from the bond first, then from stake still unbonding.
    function _slash(Bond storage bond, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        uint256 held = bond.bonded + bond.unbonding;
        if (held == 0) revert NothingToSlash();
        uint256 limit = Math.mulDiv(held, maxSlashBps, BPS);
        if (amount > limit) revert SlashTooLarge(amount, limit);
        uint256 fromBond = Math.min(amount, bond.bonded);
        bond.bonded -= fromBond;
        bond.unbonding -= amount - fromBond;
    }

    function _setTreasury(address treasury_) private {
        if (treasury_ == address(0)) revert ZeroAddress();
        treasury = treasury_;
        emit TreasuryChanged(treasury_);
    }

    function _setNodeStakePerTiB(uint256 value) private {
        nodeStakePerTiB = value;
        emit NodeStakePerTiBChanged(value);
    }

    function _setMinValidatorStake(uint256 value) private {
        minValidatorStake = value;
        emit MinValidatorStakeChanged(value);
    }

    function _setUnbondingPeriod(uint64 value) private {
        if (value > MAX_UNBONDING_PERIOD) revert InvalidParameter();
        unbondingPeriod = value;
        emit UnbondingPeriodChanged(value);
    }

    function _setMaxSlashBps(uint256 value) private {
        if (value == 0 || value > BPS) revert InvalidParameter();
        maxSlashBps = value;
        emit MaxSlashBpsChanged(value);
    }
}
