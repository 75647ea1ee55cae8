"""Unpaid files on a live alephd, driven by the real aleph-sdk-python.

Usage: python lifecycle_flow.py API_URL
The daemon trusts ORACLE's balances-update posts, bills every held byte (no free tier), checks
balances every 0.5 s and removes after a few seconds of `removing` (set by the test). Alice's
balance drops below her file's cost → removing (still served) → topped up → processed → drops
again → removed, file gone. Bob pays all along: his file stays. Prints "LIFECYCLE FLOW OK".
"""

import asyncio
import hashlib
import os
import sys
import time

import aiohttp
from aleph.sdk.chains.ethereum import ETHAccount
from aleph.sdk.client import AuthenticatedAlephHttpClient
from aleph_message.status import MessageStatus

API = sys.argv[1]
ORACLE = ETHAccount(private_key=bytes([0x33] * 32))


def check(cond, what, got=None):
    if not cond:
        raise AssertionError(f"{what}: got {got!r}")
    print(f"ok - {what}", flush=True)


async def status(http, item_hash):
    async with http.get(f"{API}/api/v0/messages/{item_hash}/status") as r:
        return (await r.json())["status"]


async def wait_status(http, item_hash, wanted, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await status(http, item_hash)
        if got == wanted:
            return got
        await asyncio.sleep(0.1)
    return await status(http, item_hash)


async def raw_status(http, file_hash):
    async with http.get(f"{API}/api/v0/storage/raw/{file_hash}") as r:
        await r.read()
        return r.status


async def main():
    alice = ETHAccount(private_key=bytes([0x11] * 32))
    bob = ETHAccount(private_key=bytes([0x22] * 32))
    height = 0
    async with AuthenticatedAlephHttpClient(account=ORACLE, api_server=API) as oracle, \
            AuthenticatedAlephHttpClient(account=alice, api_server=API) as a, \
            AuthenticatedAlephHttpClient(account=bob, api_server=API) as b, \
            aiohttp.ClientSession() as http:

        async def set_balance(who, amount):
            nonlocal height
            height += 1
            _, st = await oracle.create_post(
                {"chain": "ETH", "main_height": height, "balances": {who.get_address(): amount}},
                post_type="balances-update", channel="ALEPHD-BALANCES", sync=True)
            check(st == MessageStatus.PROCESSED, f"balances-update {amount} for {who.get_address()[:8]}", st)

        await set_balance(alice, 10)
        await set_balance(bob, 10)
        files = {}
        for name, client in (("alice", a), ("bob", b)):
            data = os.urandom(3 * 1024 * 1024)  # 3 MiB ≈ 1 token held
            store, st = await client.create_store(file_content=data, channel="ALEPHD-LIFE", sync=True)
            check(st == MessageStatus.PROCESSED, f"{name}'s STORE processed", st)
            files[name] = (store.item_hash, hashlib.sha256(data).hexdigest())
        async with http.get(f"{API}/api/v0/addresses/{alice.get_address()}/balance") as r:
            bal = await r.json()
        check(abs(bal["locked_amount"] - 1.0) < 1e-6, "alice's locked amount is her file's cost", bal)

        a_msg, a_file = files["alice"]
        b_msg, b_file = files["bob"]
        await set_balance(alice, 0.5)
        check(await wait_status(http, a_msg, "removing") == "removing", "unpaid → removing")
        check(await raw_status(http, a_file) == 200, "a removing file is still served")

        await set_balance(alice, 5)
        check(await wait_status(http, a_msg, "processed") == "processed", "topped up → processed")
        check(await raw_status(http, a_file) == 200, "the restored file is served")

        await set_balance(alice, 0)
        check(await wait_status(http, a_msg, "removing") == "removing", "unpaid again → removing")
        check(await wait_status(http, a_msg, "removed") == "removed", "after the grace period → removed")
        check(await raw_status(http, a_file) == 404, "the removed file is gone from the node")
        async with http.get(f"{API}/api/v0/messages/{a_msg}") as r:
            body = await r.json()
        check(body["status"] == "removed" and body["reason"] == "balance_insufficient"
              and "removed_at" in body, "GET /messages says removed, why and when", body)

        check(await status(http, b_msg) == "processed", "the paid-for STORE stays processed")
        check(await raw_status(http, b_file) == 200, "the paid-for file stays")

    print("LIFECYCLE FLOW OK")


asyncio.run(main())
