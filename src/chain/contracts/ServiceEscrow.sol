// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title Prepaid storage in ICNT
/// @notice Customers deposit ICNT; settlement draws each period's usage from the balance (at most once per customer
/// and period, so a retried settlement cannot charge twice, and never more than the balance); the customer may
/// withdraw what is left at any time. Usage a balance cannot cover is billed another way (fiat) by the edge.
contract ServiceEscrow is AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    IERC20 public immutable token;
    /// Where drawn-down payments go (the treasury or the rewards pipeline).
    address public revenueRecipient;
    mapping(address customer => uint256) public balanceOf;
    mapping(address customer => mapping(uint256 periodId => bool)) public drawnForPeriod;

    event Deposited(address indexed customer, address indexed from, uint256 amount, uint256 balance);
    event Withdrawn(address indexed customer, uint256 amount, uint256 balance);
    event UsageDrawn(address indexed customer, uint256 indexed periodId, uint256 amount, uint256 balance);
    event RevenueRecipientChanged(address revenueRecipient);

    error ZeroAddress();
    error ZeroAmount();
    error InsufficientBalance(uint256 requested, uint256 balance);
    error AlreadyDrawn(address customer, uint256 periodId);

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

    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 balance = balanceOf[msg.sender];
        if (amount > balance) revert InsufficientBalance(amount, balance);
        balanceOf[msg.sender] = balance - amount;
        emit Withdrawn(msg.sender, amount, balance - amount);
        token.safeTransfer(msg.sender, amount);
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

    function setRevenueRecipient(address revenueRecipient_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setRevenueRecipient(revenueRecipient_);
    }

    function _setRevenueRecipient(address revenueRecipient_) private {
        if (revenueRecipient_ == address(0)) revert ZeroAddress();
        revenueRecipient = revenueRecipient_;
        emit RevenueRecipientChanged(revenueRecipient_);
    }
}
