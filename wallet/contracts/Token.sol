// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Token
/// @notice The ERC-20 procurebot bundles for its simulated chain and tests:
/// OpenZeppelin's ERC20 with configurable decimals (6 stands in for USDC),
/// the whole initial supply minted to the deployer. Nothing else: no owner,
/// no further minting, no pausing.
contract Token is ERC20 {
    uint8 private immutable _decimals;

    /// @param name_ the token's name
    /// @param symbol_ the token's symbol
    /// @param decimals_ how many decimals one whole token has (6 for a USDC stand-in)
    /// @param initialSupply_ base units minted to the deployer
    constructor(string memory name_, string memory symbol_, uint8 decimals_, uint256 initialSupply_)
        ERC20(name_, symbol_)
    {
        _decimals = decimals_;
        _mint(msg.sender, initialSupply_);
    }

    /// @inheritdoc ERC20
    function decimals() public view override returns (uint8) {
        return _decimals;
    }
}
