// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title Prepaid storage in ICNT
/// @notice Customers deposit ICNT; settlement draws each period's usage from the balance (at most once per customer
/// and period, so a retried settlement cannot charge twice, and never more than the balance). Usage a balance cannot
/// cover is billed another way (fiat) by the edge.
///
/// Withdrawals wait for settlement, so usage already incurred cannot leave with the deposit:
/// - Periods are the settler's uint256 ids, strictly increasing (the edge uses each finance period's start in unix
///   seconds). `lastSettledPeriod` is the latest period the settler marked settled (`markSettled`), after drawing
///   its usage; the open period is every period after it (`openPeriod()` = lastSettledPeriod + 1, the lowest id a
///   later `markSettled` can take).
/// - `requestWithdrawal(amount)` records the amount and the open period. The request becomes withdrawable once a
///   period at or after it is marked settled (`lastSettledPeriod >= request.period`): settlement has then drawn
///   the usage of the period in which it was requested. One request per customer: a new one replaces the pending
///   one and waits again; `cancelWithdrawal` drops it.
/// - Until it is withdrawn, requested ICNT stays in the balance and settlement may draw it. `withdraw()` pays
///   min(requested, balance) at the moment it runs: a draw and a withdrawal never spend the same ICNT, and draws
///   take the balance a request does not cover first (a request only shrinks once the balance falls below it).
/// - Settlement that runs late (a period ended but not yet marked settled) counts the time since that period's end
///   as part of the open period: a request made then is released when the late period is settled, and usage of
///   the minutes after its end that the balance no longer covers is invoiced in fiat.
contract ServiceEscrow is AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    struct WithdrawalRequest {
        /// ICNT base units asked for; 0 when there is no request.
        uint256 amount;
        /// The period open when it was asked for: withdrawable once lastSettledPeriod >= period.
        uint256 period;
    }

    IERC20 public immutable token;
    /// Where drawn-down payments go (the protocol's ICNT treasury, from which settlement funds rewards).
    address public revenueRecipient;
    mapping(address customer => uint256) public balanceOf;
    mapping(address customer => mapping(uint256 periodId => bool)) public drawnForPeriod;
    mapping(address customer => WithdrawalRequest) public withdrawalRequestOf;
    /// The latest period whose usage settlement has drawn (0: none yet).
    uint256 public lastSettledPeriod;

    event Deposited(address indexed customer, address indexed from, uint256 amount, uint256 balance);
    event WithdrawalRequested(address indexed customer, uint256 amount, uint256 period);
    event WithdrawalCancelled(address indexed customer, uint256 amount);
    event Withdrawn(address indexed customer, uint256 amount, uint256 balance);
    event UsageDrawn(address indexed customer, uint256 indexed periodId, uint256 amount, uint256 balance);
    event PeriodSettled(uint256 indexed periodId);
    event RevenueRecipientChanged(address revenueRecipient);

    error ZeroAddress();
    error ZeroAmount();
    error InsufficientBalance(uint256 requested, uint256 balance);
    error AlreadyDrawn(address customer, uint256 periodId);
    error NoWithdrawalRequested(address customer);
    /// The request waits for `period` to be settled; `lastSettledPeriod` is the latest settled so far.
    error WithdrawalNotReady(address customer, uint256 period, uint256 lastSettledPeriod);
    error PeriodAlreadySettled(uint256 periodId, uint256 lastSettledPeriod);

    constructor(IERC20 token_, address admin, address settler, address revenueRecipient_) {
        if (address(token_) == address(0) || admin == address(0) || settler == address(0)) revert ZeroAddress();
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(SETTLER_ROLE, settler);
        _setRevenueRecipient(revenueRecipient_);
    }

    function deposit(uint256 amount) external {
        depositFor(msg.sender, amount);
    }

    /// @notice Credits `customer` with `amount` ICNT pulled from the caller.
    function depositFor(address customer, uint256 amount) public nonReentrant {
        if (customer == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        uint256 balance = balanceOf[customer] + amount;
        balanceOf[customer] = balance;
        emit Deposited(customer, msg.sender, amount, balance);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice The period a request made now waits for: the first one not yet settled.
    function openPeriod() public view returns (uint256) {
        return lastSettledPeriod + 1;
    }

    /// @notice Asks to withdraw `amount` once the open period is settled; replaces a pending request.
    function requestWithdrawal(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 balance = balanceOf[msg.sender];
        if (amount > balance) revert InsufficientBalance(amount, balance);
        uint256 period = openPeriod();
        withdrawalRequestOf[msg.sender] = WithdrawalRequest(amount, period);
        emit WithdrawalRequested(msg.sender, amount, period);
    }

    function cancelWithdrawal() external {
        uint256 amount = withdrawalRequestOf[msg.sender].amount;
        if (amount == 0) revert NoWithdrawalRequested(msg.sender);
        delete withdrawalRequestOf[msg.sender];
        emit WithdrawalCancelled(msg.sender, amount);
    }

    /// @notice What `withdraw()` would pay `customer` now: 0 while the request waits or when there is none.
    function withdrawable(address customer) public view returns (uint256) {
        WithdrawalRequest memory request = withdrawalRequestOf[customer];
        if (request.amount == 0 || lastSettledPeriod < request.period) return 0;
        uint256 balance = balanceOf[customer];
        return request.amount < balance ? request.amount : balance;
    }

    /// @notice Pays the caller's settled request: what was asked for, or the whole balance if draws left less.
    function withdraw() external nonReentrant {
        WithdrawalRequest memory request = withdrawalRequestOf[msg.sender];
        if (request.amount == 0) revert NoWithdrawalRequested(msg.sender);
        if (lastSettledPeriod < request.period) revert WithdrawalNotReady(msg.sender, request.period, lastSettledPeriod);
        uint256 balance = balanceOf[msg.sender];
        uint256 amount = request.amount < balance ? request.amount : balance;
        delete withdrawalRequestOf[msg.sender];
        balanceOf[msg.sender] = balance - amount;
        emit Withdrawn(msg.sender, amount, balance - amount);
        if (amount > 0) token.safeTransfer(msg.sender, amount);
    }

    /// @notice Charges `customer` `amount` ICNT of usage for settlement period `periodId`.
    function drawDown(address customer, uint256 periodId, uint256 amount) external onlyRole(SETTLER_ROLE) nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (drawnForPeriod[customer][periodId]) revert AlreadyDrawn(customer, periodId);
        uint256 balance = balanceOf[customer];
        if (amount > balance) revert InsufficientBalance(amount, balance);
        drawnForPeriod[customer][periodId] = true;
        balanceOf[customer] = balance - amount;
        emit UsageDrawn(customer, periodId, amount, balance - amount);
        token.safeTransfer(revenueRecipient, amount);
    }

    /// @notice Records that period `periodId`'s usage has been drawn: requests made up to it become withdrawable.
    function markSettled(uint256 periodId) external onlyRole(SETTLER_ROLE) {
        if (periodId <= lastSettledPeriod) revert PeriodAlreadySettled(periodId, lastSettledPeriod);
        lastSettledPeriod = periodId;
        emit PeriodSettled(periodId);
    }

    function setRevenueRecipient(address revenueRecipient_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setRevenueRecipient(revenueRecipient_);
    }

    function _setRevenueRecipient(address revenueRecipient_) private {
        if (revenueRecipient_ == address(0)) revert ZeroAddress();
        revenueRecipient = revenueRecipient_;
        emit RevenueRecipientChanged(revenueRecipient_);
    }
}
