"""Signature round trip with the real aleph-sdk-python.

Usage: python signature_roundtrip.py IN.json OUT.json
IN.json holds messages alephd signed (wire form). For each, the SDK's own verifiers check the
signature and aleph-message parses the message; the verdicts go to OUT.json, together with
messages the SDK's ETHAccount and SOLAccount signed, for alephd to verify.
"""

import asyncio
import hashlib
import json
import sys
import time

from aleph.sdk.chains.common import get_verification_buffer
from aleph.sdk.chains.ethereum import ETHAccount
from aleph.sdk.chains.ethereum import verify_signature as eth_verify
from aleph.sdk.chains.solana import SOLAccount
from aleph.sdk.chains.solana import verify_signature as sol_verify
from aleph_message import parse_message


def verdict(message):
    buffer = get_verification_buffer(message)
    try:
        if message["chain"] == "SOL":
            sig = json.loads(message["signature"])
            if sig["publicKey"] != message["sender"]:
                return "publicKey != sender"
            sol_verify(sig["signature"], sig["publicKey"], buffer)
        else:
            eth_verify(message["signature"], message["sender"], buffer)
        # aleph-message's models want the parsed content too (the API form).
        parse_message(dict(message, content=json.loads(message["item_content"])))
        return "valid"
    except Exception as e:  # any failure is the verdict
        return f"{type(e).__name__}: {e}"


async def python_signed():
    out = []
    for account in (ETHAccount(private_key=bytes([7] * 32)), SOLAccount(private_key=bytes([8] * 32))):
        for i in range(3):
            content = json.dumps({"address": account.get_address(), "time": time.time(),
                                  "type": "py-signed", "content": {"i": i, "ü": "non-ascii"}},
                                 separators=(",", ":"))
            message = {
                "chain": "SOL" if isinstance(account, SOLAccount) else "ETH",
                "sender": account.get_address(),
                "type": "POST",
                "channel": "TEST",
                "item_type": "inline",
                "item_content": content,
                "item_hash": hashlib.sha256(content.encode()).hexdigest(),
                "time": time.time(),
            }
            out.append(await account.sign_message(message))
    return out


def main():
    ours = json.load(open(sys.argv[1]))
    result = {"verdicts": [verdict(m) for m in ours], "signed": asyncio.run(python_signed())}
    json.dump(result, open(sys.argv[2], "w"))


main()
