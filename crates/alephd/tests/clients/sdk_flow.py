"""Drives a live alephd with the real aleph-sdk-python, unmodified.

Usage: python sdk_flow.py API_URL
Each step checks the node's answer, not only that the call returned; the first failed check
raises, printing what was expected and what came back. Prints "SDK FLOW OK" at the end.
"""

import asyncio
import json
import sys
import time

import aiohttp
from aleph.sdk.chains.ethereum import ETHAccount
from aleph.sdk.client import AlephHttpClient, AuthenticatedAlephHttpClient
from aleph.sdk.exceptions import ForgottenMessageError
from aleph.sdk.query.filters import MessageFilter, PostFilter
from aleph_message.models import MessageType
from aleph_message.status import MessageStatus

API = sys.argv[1]
CHANNEL = "ALEPHD-E2E"


def check(cond, what, got=None):
    if not cond:
        raise AssertionError(f"{what}: got {got!r}")
    print(f"ok - {what}", flush=True)


async def main():
    alice = ETHAccount(private_key=bytes([0x11] * 32))
    mallory = ETHAccount(private_key=bytes([0x22] * 32))
    async with AuthenticatedAlephHttpClient(account=alice, api_server=API) as client, \
            AuthenticatedAlephHttpClient(account=mallory, api_server=API) as evil, \
            AlephHttpClient(api_server=API) as reader:

        # Posts, synchronously processed.
        post, status = await client.create_post(
            {"body": "hello", "tags": ["e2e"]}, post_type="e2e-post", channel=CHANNEL, sync=True)
        check(status == MessageStatus.PROCESSED, "create_post sync → processed", status)
        fetched = await reader.get_message(post.item_hash)
        check(fetched.content.content == {"body": "hello", "tags": ["e2e"]}, "get_message content",
              fetched.content.content)
        check(await reader.get_message_status(post.item_hash) == MessageStatus.PROCESSED,
              "get_message_status")

        # Async post: 202 then processed shortly after.
        post2, status2 = await client.create_post({"n": 2}, post_type="e2e-post", channel=CHANNEL)
        check(status2 in (MessageStatus.PENDING, MessageStatus.PROCESSED), "create_post async", status2)
        for _ in range(100):
            if await reader.get_message_status(post2.item_hash) == MessageStatus.PROCESSED:
                break
            await asyncio.sleep(0.1)
        check(await reader.get_message_status(post2.item_hash) == MessageStatus.PROCESSED,
              "async post processed")

        # Amend: latest content wins, original identity kept.
        amend, status = await client.create_post(
            {"body": "hello, amended"}, post_type="amend", ref=post.item_hash, channel=CHANNEL, sync=True)
        check(status == MessageStatus.PROCESSED, "amend processed", status)
        posts = await reader.get_posts(post_filter=PostFilter(hashes=[post.item_hash]))
        check(len(posts.posts) == 1, "get_posts by original hash", posts.posts)
        check(posts.posts[0].content == {"body": "hello, amended"}, "amended content served",
              posts.posts[0].content)
        check(posts.posts[0].original_item_hash == post.item_hash, "original identity kept",
              posts.posts[0].original_item_hash)

        # A stranger's amend is rejected with PERMISSION_DENIED (2); with sync the SDK raises.
        try:
            await evil.create_post(
                {"body": "pwned"}, post_type="amend", ref=post.item_hash,
                address=alice.get_address(), channel=CHANNEL, sync=True)
            check(False, "non-owner amend raises")
        except Exception as e:  # the SDK's InvalidMessageError carries the node's answer
            check("'error_code': 2" in str(e), "non-owner amend rejected with code 2", str(e))
        bad_amend, status, _ = await evil.submit(
            {"address": alice.get_address(), "time": time.time(), "type": "amend",
             "ref": post.item_hash, "content": {"body": "pwned again"}},
            MessageType.post, channel=CHANNEL, sync=True, raise_on_rejected=False)
        check(status == MessageStatus.REJECTED, "submit(raise_on_rejected=False) → rejected", status)
        error = await reader.get_message_error(bad_amend.item_hash)
        check(error is not None and error["error_code"] == 2, "get_message_error gives code 2", error)
        posts = await reader.get_posts(post_filter=PostFilter(hashes=[post.item_hash]))
        check(posts.posts[0].content == {"body": "hello, amended"}, "rejected amend changed nothing",
              posts.posts[0].content)

        # Aggregates: shallow merge by time.
        _, status = await client.create_aggregate("profile", {"name": "alice", "age": 1},
                                                  channel=CHANNEL, sync=True)
        check(status == MessageStatus.PROCESSED, "create_aggregate processed", status)
        _, status = await client.create_aggregate("profile", {"age": 2}, channel=CHANNEL, sync=True)
        check(status == MessageStatus.PROCESSED, "second aggregate processed", status)
        _, _ = await client.create_aggregate("settings", {"theme": "dark"}, channel=CHANNEL, sync=True)
        value = await reader.fetch_aggregate(alice.get_address(), "profile")
        check(value == {"name": "alice", "age": 2}, "fetch_aggregate merged", value)
        values = await reader.fetch_aggregates(alice.get_address())
        check(values.get("settings") == {"theme": "dark"} and "profile" in values,
              "fetch_aggregates", values)
        values = await reader.fetch_aggregates(alice.get_address(), keys=["settings"])
        check(list(values) == ["settings"], "fetch_aggregates keys filter", values)

        # get_messages with filters.
        msgs = await reader.get_messages(message_filter=MessageFilter(
            message_types=[MessageType.aggregate], addresses=[alice.get_address()], channels=[CHANNEL]))
        check(len(msgs.messages) == 3 and all(m.type == MessageType.aggregate for m in msgs.messages),
              "get_messages type+address+channel filter", [m.item_hash for m in msgs.messages])
        msgs = await reader.get_messages(message_filter=MessageFilter(hashes=[post2.item_hash]))
        check([m.item_hash for m in msgs.messages] == [post2.item_hash], "get_messages by hash",
              msgs.messages)
        msgs = await reader.get_messages(page_size=2, page=1,
                                         message_filter=MessageFilter(channels=[CHANNEL]))
        check(len(msgs.messages) == 2 and msgs.pagination_total >= 6, "pagination",
              (len(msgs.messages), msgs.pagination_total))

        # watch_messages: a post made after subscribing arrives on the websocket.
        async def first_watched():
            async for message in reader.watch_messages(
                    message_filter=MessageFilter(channels=["ALEPHD-WATCH"])):
                return message
        watcher = asyncio.create_task(first_watched())
        await asyncio.sleep(0.5)
        watched_post, _ = await client.create_post({"w": 1}, post_type="watched",
                                                   channel="ALEPHD-WATCH", sync=True)
        watched = await asyncio.wait_for(watcher, 15)
        check(watched.item_hash == watched_post.item_hash, "watch_messages delivers", watched.item_hash)

        # Forget: the post disappears; get_message says forgotten.
        _, status = await client.forget([post2.item_hash], reason="e2e", channel=CHANNEL, sync=True)
        check(status == MessageStatus.PROCESSED, "forget processed", status)
        try:
            await reader.get_message(post2.item_hash)
            check(False, "forgotten message raises")
        except ForgottenMessageError:
            check(True, "forgotten message raises ForgottenMessageError")
        posts = await reader.get_posts(post_filter=PostFilter(hashes=[post2.item_hash]))
        check(posts.posts == [], "forgotten post no longer listed", posts.posts)

        # A forged signature: the node rejects it with code 1 and says so.
        forged = json.loads(json.dumps(
            (await client.create_post({"f": 1}, post_type="forged-base", channel=CHANNEL,
                                      sync=True))[0].model_dump(mode="json")))
        content = json.dumps({"address": alice.get_address(), "time": time.time(),
                              "type": "forged", "content": {"x": 1}}, separators=(",", ":"))
        import hashlib
        forged.update(item_content=content, item_hash=hashlib.sha256(content.encode()).hexdigest())
        wire = {k: forged[k] for k in ("sender", "chain", "signature", "type", "item_type",
                                       "item_content", "item_hash", "time", "channel")}
        wire["time"] = time.time()
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{API}/api/v0/messages", json={"sync": True, "message": wire}) as r:
                check(r.status == 422, "forged signature → 422", (r.status, await r.text()))
        error = await reader.get_message_error(wire["item_hash"])
        check(error is not None and error["error_code"] == 1, "forged signature → code 1", error)

        # Files: create_store (storage engine: file + signed STORE in one multipart request),
        # then download_file; the message is processed with the file's size.
        import hashlib
        import os as _os
        data = _os.urandom(200_000)
        store, status = await client.create_store(file_content=data, channel=CHANNEL, sync=True)
        check(status == MessageStatus.PROCESSED, "create_store (storage) processed", status)
        check(store.content.item_hash == hashlib.sha256(data).hexdigest(), "STORE names the sha256",
              store.content.item_hash)
        check(await reader.download_file(store.content.item_hash) == data,
              "download_file round-trips the bytes")
        got = await reader.get_message(store.item_hash)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{API}/api/v0/messages/{store.item_hash}") as r:
                size = (await r.json())["message"]["size"]
        check(size == len(data), "processed STORE message has the file's size", size)

        # IPFS engine: ipfs/add_file then POST /messages.
        data2 = _os.urandom(70_000)
        store2, status = await client.create_store(file_content=data2, storage_engine="ipfs",
                                                   channel=CHANNEL, sync=True)
        check(status == MessageStatus.PROCESSED, "create_store (ipfs) processed", status)
        check(store2.content.item_hash.startswith("Qm"), "ipfs STORE names a CID",
              store2.content.item_hash)
        check(await reader.download_file(store2.content.item_hash) == data2,
              "download_file (CID) round-trips the bytes")

        # A STORE whose file is not on the node waits (code 4), it is not processed.
        missing = hashlib.sha256(b"never uploaded").hexdigest()
        _, status, _ = await client.submit(
            {"address": alice.get_address(), "time": time.time(), "item_type": "storage",
             "item_hash": missing}, MessageType.store, channel=CHANNEL, sync=True,
            raise_on_rejected=False)
        check(status == MessageStatus.PENDING, "STORE of an absent file stays pending", status)

    print("SDK FLOW OK")


asyncio.run(main())
