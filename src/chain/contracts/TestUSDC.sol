// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Test stablecoin for local networks and tests (USDC-like: 6 decimals)
/// @notice Only on local chains: the owner mints freely. The buyback pool pairs it with ICNT.
contract TestUSDC is ERC20, Ownable {
    constructor(address owner) ERC20("Test USD Coin", "tUSDC") Ownable(owner) {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
