"""PROGRAM and INSTANCE messages made by the real aleph-sdk-python, on a live alephd.

Usage: python vm_flow.py API_URL
The daemon trusts ORACLE for balances and credits (set by the test). Checks that programs
and instances are accepted when their STOREs exist, priced as the spec's formulas say, that a
STORE used by a live VM cannot be forgotten (503), that a program with an unknown code ref
waits, and that a credit instance needs credits (6). Prints "VM FLOW OK".
"""

import asyncio
import os
import sys

import aiohttp
from aleph.sdk.chains.ethereum import ETHAccount
from aleph.sdk.client import AlephHttpClient, AuthenticatedAlephHttpClient
from aleph_message.models import Chain, MessageType, Payment, PaymentType
from aleph_message.models.execution.environment import HostRequirements, NodeRequirements
from aleph_message.status import MessageStatus

API = sys.argv[1]
ORACLE = ETHAccount(private_key=bytes([0x33] * 32))
CHANNEL = "ALEPHD-VM"


def check(cond, what, got=None):
    if not cond:
        raise AssertionError(f"{what}: got {got!r}")
    print(f"ok - {what}", flush=True)


async def main():
    alice = ETHAccount(private_key=bytes([0x11] * 32))
    async with AuthenticatedAlephHttpClient(account=ORACLE, api_server=API) as oracle, \
            AuthenticatedAlephHttpClient(account=alice, api_server=API) as a, \
            AlephHttpClient(api_server=API) as reader, aiohttp.ClientSession() as http:
        _, st = await oracle.create_post(
            {"chain": "ETH", "main_height": 1, "balances": {alice.get_address(): 10_000}},
            post_type="balances-update", channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "balances-update", st)

        code, st = await a.create_store(file_content=os.urandom(20_000), channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "code STORE", st)
        runtime, st = await a.create_store(file_content=os.urandom(50_000), channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "runtime STORE", st)

        program, st = await a.create_program(
            program_ref=code.item_hash, entrypoint="main:app", runtime=runtime.item_hash,
            vcpus=1, memory=2048, internet=True, channel=CHANNEL, sync=True,
            subscriptions=[{"channel": "ALEPHD-TRIGGER"}])
        check(st == MessageStatus.PROCESSED, "create_program processed", st)
        price = await reader.get_program_price(program.item_hash)
        # 1 vCPU / 2 GiB = 1 CU, ×2 with internet (on demand), 200 ALEPH held per CU.
        check(float(price.required_tokens) == 400.0 and price.payment_type == "hold",
              "program price = 2 CU × 200", price)
        estimate = await a.get_estimated_price(program.content)
        check(float(estimate.required_tokens) == 400.0, "price/estimate agrees", estimate)
        async with http.get(f"{API}/api/v0/programs/on/message") as r:
            triggers = await r.json()
        check(any(p["item_hash"] == program.item_hash for p in triggers),
              "programs/on/message lists it", triggers)

        import time
        forget, st, _ = await a.submit(
            {"address": alice.get_address(), "time": time.time(), "hashes": [code.item_hash],
             "reason": "in use"}, MessageType.forget, channel=CHANNEL, sync=True,
            raise_on_rejected=False)
        check(st == MessageStatus.REJECTED, "forgetting a STORE used by a program is rejected", st)
        error = await reader.get_message_error(forget.item_hash)
        check(error["error_code"] == 503, "… with FORGET_NOT_ALLOWED (503)", error)

        unknown, st, _ = await a.submit(
            {**program.content.model_dump(exclude_none=True),
             "code": {**program.content.code.model_dump(exclude_none=True), "ref": "ab" * 32}},
            MessageType.program, channel=CHANNEL, sync=True, raise_on_rejected=False)
        check(st == MessageStatus.PENDING, "a program with an unknown code STORE waits", st)

        rootfs, st = await a.create_store(file_content=os.urandom(30_000), channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "rootfs STORE", st)
        credit = Payment(chain=Chain.ETH, type=PaymentType.credit)
        requirements = HostRequirements(node=NodeRequirements(node_hash="cd" * 32))
        # The SDK raises on any rejection but code 5 (it does not name 6).
        try:
            await a.create_instance(
                rootfs=rootfs.item_hash, rootfs_size=20480, payment=credit, vcpus=1, memory=2048,
                requirements=requirements, channel=CHANNEL, sync=True)
            check(False, "credit instance without credits rejected")
        except ValueError as e:
            check("'error_code': 6" in str(e), "credit instance without credits → code 6", str(e))

        _, st = await oracle.create_post(
            {"distribution": {"credits": [{"address": alice.get_address(), "amount": 10**9,
                                           "price": "1", "tx_hash": "0x1", "provider": "e2e"}]}},
            post_type="aleph_credit_distribution", channel="ALEPH_CREDIT", sync=True)
        check(st == MessageStatus.PROCESSED, "credits distributed", st)
        instance, st = await a.create_instance(
            rootfs=rootfs.item_hash, rootfs_size=20480, payment=credit, vcpus=1, memory=2048,
            requirements=requirements, channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "create_instance (credit) processed", st)
        async with http.get(f"{API}/api/v0/price/{instance.item_hash}") as r:
            price = await r.json()
        # 1 CU at 14 250 credits/hour, per second; the rootfs is within the included disk.
        check(price["payment_type"] == "credit" and abs(price["required_tokens"] - 14250 / 3600) < 1e-9,
              "instance price = 1 CU of credits per second", price)
        async with http.get(f"{API}/api/v0/addresses/{alice.get_address()}/balance") as r:
            balance = await r.json()
        check(balance["credit_balance"] == 10**9 and balance["balance"] == 10_000,
              "balance with credits", balance)

    print("VM FLOW OK")


asyncio.run(main())
