// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title ICNT, the ICN network token
/// @notice Pays for service, is staked as collateral by node operators and validators, and carries governance
/// votes (ERC20Votes: holders delegate to activate their voting power). The whole supply is minted once, at deploy;
/// there is no mint function, so the supply can never grow.
contract ICNT is ERC20, ERC20Permit, ERC20Votes {
    constructor(address holder, uint256 supply) ERC20("ICN Token", "ICNT") ERC20Permit("ICN Token") {
        _mint(holder, supply);
    }

    // Both ERC20 and ERC20Votes define these; Solidity requires naming the combination explicitly.
    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
