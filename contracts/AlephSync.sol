// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

/// Aleph sync anchor: events carry batch references (SyncEvent) or
/// smart-contract messages (MessageEvent). No storage, events only.
contract AlephSync {
    event SyncEvent(uint256 timestamp, address addr, string message);
    event MessageEvent(uint256 timestamp, address addr, string msgtype, string msgcontent);

    function doEmit(string calldata message) external {
        emit SyncEvent(block.timestamp, msg.sender, message);
    }

    function doMessage(string calldata msgtype, string calldata msgcontent) external {
        emit MessageEvent(block.timestamp, msg.sender, msgtype, msgcontent);
    }
}
