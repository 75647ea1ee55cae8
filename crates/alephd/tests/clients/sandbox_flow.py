"""Linux-runtime PROGRAMs deployed by Aleph's own clients on a live alephd, answering on /vm/{hash}.

Usage: python sandbox_flow.py API_URL ALEPH_BIN WORKDIR RUNTIME_SQUASHFS HELLO_BINARY APP_DIR PRICING_JSON
The daemon trusts ORACLE for balances and prices: ORACLE posts the `pricing` aggregate the
aleph CLI reads before it deploys (the CLI is pointed at ORACLE with ALEPH_ALEPH_AGGREGATE_ADDRESS). The runtime image (built by `alephd runtime build`) is
uploaded with `aleph file upload`; a FastAPI app directory is deployed with
`aleph program upload` (zip, ASGI, variables, a persistent and an immutable volume), and a
static binary is deployed with aleph-sdk-python's `create_program` (squashfs code, binary
interface). Code, runtime and volumes all reach the node through messages.
Prints "SANDBOX FLOW OK".
"""

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from aleph.sdk.chains.ethereum import ETHAccount
from aleph.sdk.client import AuthenticatedAlephHttpClient
from aleph_message.models import MessageType
from aleph_message.models.execution.program import Encoding
from aleph_message.status import MessageStatus

API, ALEPH, WORK, RUNTIME, HELLO, APP, PRICING = sys.argv[1:8]
ORACLE = ETHAccount(private_key=bytes([0x33] * 32))
ALICE = ETHAccount(private_key=bytes([0x11] * 32))
KEY = "11" * 32
CHANNEL = "ALEPHD-SANDBOX"
ENV = dict(os.environ, ALEPH_API_HOST=API, ALEPH_CONFIG_HOME=os.path.join(WORK, "aleph-config"),
           COLUMNS="200", NO_COLOR="1", ALEPH_ALEPH_AGGREGATE_ADDRESS=ORACLE.get_address())


def check(cond, what, got=None):
    if not cond:
        raise AssertionError(f"{what}: got {got!r}")
    print(f"ok - {what}", flush=True)


def aleph(*args):
    done = subprocess.run([ALEPH, "--no-format", *args], env=ENV, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def last_json(out):
    """The last JSON object the CLI printed, with whatever text follows it."""
    lines = out.splitlines()
    decoder = json.JSONDecoder()
    for start in reversed([i for i, line in enumerate(lines) if line.startswith("{")]):
        try:
            return decoder.raw_decode("\n".join(lines[start:]))[0]
        except json.JSONDecodeError:
            continue
    raise AssertionError(f"no JSON object in output:\n{out}")


def get(path, timeout=120):
    try:
        with urllib.request.urlopen(f"{API}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def request(path, headers=None, timeout=120):
    """GET with headers: (status, body, response headers, case-insensitive)."""
    req = urllib.request.Request(f"{API}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def host_label(item_hash):
    """The program's DNS label: base32 of its hash bytes, lowercase, unpadded."""
    return base64.b32encode(bytes.fromhex(item_hash)).decode().rstrip("=").lower()


def wait_processed(item_hash):
    for _ in range(600):
        status, body = get(f"/api/v0/messages/{item_hash}/status")
        if status == 200 and json.loads(body)["status"] != "pending":
            return json.loads(body)["status"]
        time.sleep(0.1)
    raise AssertionError(f"{item_hash} still pending")


def squashfs_of(path):
    """A squashfs holding one file (the binary program's code)."""
    out = os.path.join(WORK, "hello.squashfs")
    subprocess.run(["mksquashfs", path, out, "-noappend", "-quiet", "-no-progress"], check=True)
    return open(out, "rb").read()


async def main():
    os.makedirs(ENV["ALEPH_CONFIG_HOME"], exist_ok=True)
    async with AuthenticatedAlephHttpClient(account=ORACLE, api_server=API) as oracle, \
            AuthenticatedAlephHttpClient(account=ALICE, api_server=API) as alice:
        _, st = await oracle.create_post(
            {"chain": "ETH", "main_height": 1, "balances": {ALICE.get_address(): 1_000_000}},
            post_type="balances-update", channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "balances-update", st)
        with open(PRICING) as f:
            _, st = await oracle.create_aggregate(key="pricing", content=json.load(f), channel=CHANNEL,
                                                  sync=True)
        check(st == MessageStatus.PROCESSED, "pricing aggregate", st)

        uploaded = last_json(aleph("file", "upload", RUNTIME, "--channel", CHANNEL, "--private-key", KEY))
        runtime = uploaded["item_hash"]
        check(wait_processed(runtime) == "processed", "runtime image uploaded with `aleph file upload`")

        packages_dir = os.path.join(WORK, "packages")
        os.makedirs(packages_dir, exist_ok=True)
        with open(os.path.join(packages_dir, "lib.txt"), "w") as f:
            f.write("from an immutable volume")
        volume_image = os.path.join(WORK, "packages.squashfs")
        subprocess.run(["mksquashfs", packages_dir, volume_image, "-noappend", "-quiet", "-no-progress"],
                       check=True)
        volume, st = await alice.create_store(file_content=open(volume_image, "rb").read(),
                                              channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "immutable volume STORE", st)

        # The aleph CLI: a FastAPI app directory (zipped by the CLI), ASGI `main:app`.
        out = aleph("program", "upload", APP, "main:app", "--runtime", runtime, "--name", "fastapi-app",
                    "--compute-units", "1", "--skip-volume", "--env-vars", "GREETING=bonjour",
                    "--persistent-volume", "name=state,mount=/data,size_mib=16",
                    "--immutable-volume", f"mount=/opt/packages,ref={volume.item_hash}",
                    "--print-program-message", "--channel", CHANNEL, "--private-key", KEY)
        app = last_json(out)["item_hash"]
        check(wait_processed(app) == "processed", "`aleph program upload` PROGRAM processed")

        status, body = get(f"/vm/{app}/")
        check(status == 200 and json.loads(body)["hello"] == "aleph", "the FastAPI app answers on /vm/{hash}",
              (status, body))
        status, body = get(f"/vm/{app}/env/GREETING")
        check(status == 200 and json.loads(body)["value"] == "bonjour", "its variables", (status, body))
        status, body = get(f"/vm/{app}/volume/note?write=kept")
        check(status == 200 and json.loads(body)["content"] == "kept", "its persistent volume", (status, body))
        status, body = get(f"/vm/{app}/probe?read=/opt/packages/lib.txt")
        check(status == 200 and json.loads(body)["read_host_file"]["result"] == "from an immutable volume",
              "its immutable volume", (status, body))

        # aleph-sdk-python: a static binary in a squashfs, binary interface (entrypoint without ':').
        code, st = await alice.create_store(file_content=squashfs_of(HELLO), channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "binary code STORE", st)
        program, st = await alice.create_program(
            program_ref=code.item_hash, entrypoint=os.path.basename(HELLO), runtime=runtime,
            encoding=Encoding.squashfs, vcpus=1, memory=256, internet=False,
            environment_variables={"WHO": "sdk"}, allow_amend=True, channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "create_program (binary) processed", st)
        status, body = get(f"/vm/{program.item_hash}/")
        check((status, body) == (200, "hello from a binary"), "the binary answers on /vm/{hash}", (status, body))
        status, body = get(f"/vm/{program.item_hash}/env/WHO")
        check((status, body) == (200, "sdk"), "the binary's variables", (status, body))

        # The host route: <base32(hash)>.<domain>, the path unchanged; the program headers.
        status, body, headers = request("/env/WHO", {"Host": f"{host_label(program.item_hash)}.aleph.test"})
        check((status, body) == (200, "sdk"), "the host route reaches the binary", (status, body))
        check(headers.get("Aleph-Program-ItemHash") == program.item_hash
              and headers.get("Aleph-Program-Code-Ref") == code.item_hash, "program headers", headers)
        status, body, _ = request("/env/WHO", {"Host": f"{host_label(program.item_hash)}.elsewhere.test"})
        check(status == 404, "another domain is not a program host", (status, body))

        # Its executions (the logs API): newest first, the first one cold.
        status, body = get(f"/api/v0/compute/{program.item_hash}/executions?limit=10")
        log = json.loads(body)
        runs = log["executions"]
        check(status == 200 and len(runs) == 3 and all(r["http_status"] == 200 for r in runs)
              and runs[-1]["cold"] and not runs[0]["cold"] and log["program"]["requests"] == 3,
              "the executions log", (status, body))

        # An amended program (a PROGRAM that `replaces` it) serves its new version next request.
        fetched = await alice.get_message(program.item_hash)
        content = fetched.content.model_dump(mode="json", exclude_none=True)
        content.update(replaces=program.item_hash, time=time.time(), variables={"WHO": "amended"})
        amend, st, _ = await alice.submit(content=content, message_type=MessageType.program,
                                          channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "the amending PROGRAM processed", st)
        status, body, headers = request(f"/vm/{program.item_hash}/env/WHO")
        check((status, body) == (200, "amended") and headers.get("Aleph-Program-ItemHash") == amend.item_hash,
              "the amended program answers with its new version", (status, body, headers))
        status, body = get(f"/vm/{amend.item_hash}/env/WHO")
        check((status, body) == (200, "amended"), "and under the amend's own hash", (status, body))

        # A forgotten program is gone: 410, not a stale instance.
        _, st = await alice.forget(hashes=[amend.item_hash, program.item_hash], reason="done",
                                   channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "FORGET processed", st)
        status, body = get(f"/vm/{program.item_hash}/")
        check(status == 410, "a forgotten program answers 410", (status, body))
        status, body = get(f"/vm/{'0' * 64}/")
        check(status == 404, "an unknown program answers 404", (status, body))

        # A bad program: its code is not the zip it claims to be.
        bad_code, _ = await alice.create_store(file_content=b"print('not a zip')", channel=CHANNEL, sync=True)
        bad, st = await alice.create_program(
            program_ref=bad_code.item_hash, entrypoint="main:app", runtime=runtime, vcpus=1, memory=256,
            internet=False, channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "bad program processed", st)
        status, body = get(f"/vm/{bad.item_hash}/")
        check(status >= 400 and "encoding" in body, "a wrong encoding gives a clear error", (status, body))

        # A persistent program: started by the node with no request, restarted when it dies,
        # stopped when forgotten.
        keeper, st = await alice.create_program(
            program_ref=code.item_hash, entrypoint=os.path.basename(HELLO), runtime=runtime,
            encoding=Encoding.squashfs, vcpus=1, memory=256, internet=False, persistent=True,
            channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "create_program(persistent=True) processed", st)

        def keeper_log():
            _, body = get(f"/api/v0/compute/{keeper.item_hash}/executions?limit=20")
            log = json.loads(body)
            starts = [r for r in log["executions"] if r["trigger"] == "persistent" and r["status"] == "ok"]
            return log, starts

        def wait_for(what, cond, tries=300):
            for _ in range(tries):
                result = cond()
                if result:
                    return result
                time.sleep(0.2)
            raise AssertionError(f"{what}: never happened; log {keeper_log()[0]}")

        log, starts = wait_for("the persistent program starts by itself",
                               lambda: (lambda l: l if l[1] and l[0]["program"]["running"] else None)(keeper_log()))
        check(len(starts) == 1 and log["program"]["requests"] == 1, "started by the node, no request made", log)
        status, _ = get(f"/vm/{keeper.item_hash}/exit")
        check(status >= 500, "its crash on demand fails the request", status)
        wait_for("the persistent program restarts after a crash",
                 lambda: len(keeper_log()[1]) >= 2 and keeper_log()[0]["program"]["running"])
        status, body = get(f"/vm/{keeper.item_hash}/")
        check((status, body) == (200, "hello from a binary"), "restarted, it answers", (status, body))
        _, st = await alice.forget(hashes=[keeper.item_hash], reason="done", channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "the persistent program forgotten", st)
        def keeper_running():
            _, body = get("/about/executions/list")
            return json.loads(body)[keeper.item_hash]["running"]

        wait_for("a forgotten persistent program stops", lambda: not keeper_running())
        check(True, "and stopped once forgotten")

        # Message triggers: the FastAPI app's code again, subscribed to pings on one channel.
        app_message = await alice.get_message(app)
        app_code = app_message.content.code
        watcher, st = await alice.create_program(
            program_ref=app_code.ref, entrypoint="main:app", runtime=runtime, encoding=app_code.encoding,
            vcpus=1, memory=256,
            internet=False, subscriptions=[{"channel": "TRIGGERS", "content": {"type": "ping"}}],
            channel=CHANNEL, sync=True)
        check(st == MessageStatus.PROCESSED, "create_program with on.message subscriptions", st)
        ping, _ = await alice.create_post({"n": 1}, post_type="ping", channel="TRIGGERS", sync=True)
        pong, _ = await alice.create_post({"n": 2}, post_type="pong", channel="TRIGGERS", sync=True)
        elsewhere, _ = await alice.create_post({"n": 3}, post_type="ping", channel="ELSEWHERE", sync=True)
        received = []
        for _ in range(300):  # a cold start on a loaded machine takes seconds
            status, body = get(f"/vm/{watcher.item_hash}/received")
            received = json.loads(body)["received"] if status == 200 else []
            if ping.item_hash in received:
                break
            time.sleep(0.2)
        if ping.item_hash not in received:
            _, log = get(f"/api/v0/compute/{watcher.item_hash}/executions?limit=10")
            _, subscribed = get("/api/v0/programs/on/message")
            raise AssertionError(f"the matching message did not run the program: {received}; "
                                 f"executions {log}; subscribed {subscribed}")
        check(True, "the matching message ran the program")
        # Triggers run in order of processing: the later non-matching ones would be there by
        # now if they had matched (give them a moment anyway).
        time.sleep(1)
        status, body = get(f"/vm/{watcher.item_hash}/received")
        received = json.loads(body)["received"]
        check(received == [ping.item_hash], "and only the matching one", (received, pong.item_hash,
                                                                          elsewhere.item_hash))
        status, body = get(f"/api/v0/compute/{watcher.item_hash}/executions?limit=10")
        runs = json.loads(body)["executions"]
        triggered = [r for r in runs if r["trigger"] == "message"]
        check(len(triggered) == 1 and triggered[0]["http_status"] == 200
              and f"message {ping.item_hash} received" in triggered[0]["stdout"] + "".join(
                  r["stdout"] for r in runs),
              "the trigger is in the executions log with the program's output", runs)

    print("SANDBOX FLOW OK")


asyncio.run(main())
