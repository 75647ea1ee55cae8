"""The real ecosystem against what the `alephd` CLI makes.

Usage: python cli_crosscheck.py API_URL ALEPHD_BIN ALEPH_BIN WORKDIR
1. Keys created by the `aleph` CLI (ETH and SOL key files) import into `alephd key import` with
   the addresses aleph-sdk-python derives from them.
2. Messages the `alephd` CLI signs with those keys (POST, AGGREGATE, STORE, FORGET) parse with
   the `aleph-message` models and verify with aleph-sdk-python's own signature checks; a
   tampered copy does not.
Prints "CLI CROSSCHECK OK" at the end.
"""

import hashlib
import json
import os
import subprocess
import sys
import urllib.request

from aleph.sdk.chains.common import get_verification_buffer
from aleph.sdk.chains.ethereum import ETHAccount
from aleph.sdk.chains.ethereum import verify_signature as verify_eth
from aleph.sdk.chains.solana import SOLAccount
from aleph.sdk.chains.solana import verify_signature as verify_sol
from aleph.sdk.exceptions import BadSignatureError
from aleph_message import parse_message

API, ALEPHD, ALEPH, WORK = sys.argv[1:5]
ALEPH_HOME = os.path.join(WORK, "aleph-config")
ALEPHD_HOME = os.path.join(WORK, "alephd")


def check(cond, what, got=None):
    if not cond:
        raise AssertionError(f"{what}: got {got!r}")
    print(f"ok - {what}", flush=True)


def run(cmd, env=None):
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def alephd(*args):
    env = dict(os.environ, ALEPHD_API=API, ALEPHD_DATA_DIR=ALEPHD_HOME)
    env.pop("ALEPHD_KEY", None)
    return json.loads(run([ALEPHD, *args, "--json"], env=env))


def aleph_create_key(path, chain):
    env = dict(os.environ, ALEPH_CONFIG_HOME=ALEPH_HOME, COLUMNS="200", NO_COLOR="1")
    run([ALEPH, "account", "create", "--private-key-file", path, "--chain", chain, "--no-active"], env=env)
    with open(path, "rb") as f:
        return f.read()


def raw_message(item_hash):
    with urllib.request.urlopen(f"{API}/api/v0/messages/{item_hash}") as r:
        return json.load(r)["message"]


def verifies(message):
    buffer = get_verification_buffer(message)
    try:
        if message["chain"] == "SOL":
            signature = json.loads(message["signature"])
            check(signature["publicKey"] == message["sender"], "SOL signature names its key")
            verify_sol(signature["signature"], signature["publicKey"], buffer)
        else:
            verify_eth(message["signature"], message["sender"], buffer)
        return True
    except BadSignatureError:
        return False


def tampered(message):
    copy = dict(message)
    if copy["chain"] == "SOL":
        sig = json.loads(copy["signature"])
        raw = bytearray(__import__("base58").b58decode(sig["signature"]))
        raw[0] ^= 1
        sig["signature"] = __import__("base58").b58encode(bytes(raw)).decode()
        copy["signature"] = json.dumps(sig)
    else:
        copy["item_hash"] = hashlib.sha256(b"something else").hexdigest()
    return copy


def main():
    os.makedirs(ALEPH_HOME, exist_ok=True)
    eth_secret = aleph_create_key(os.path.join(WORK, "ethereum.key"), "ETH")
    sol_secret = aleph_create_key(os.path.join(WORK, "solana.key"), "SOL")
    eth_address = ETHAccount(eth_secret).get_address()
    sol_address = SOLAccount(sol_secret).get_address()

    imported = alephd("key", "import", os.path.join(WORK, "ethereum.key"), "--name", "eth")
    check(imported["address"] == eth_address, "the aleph CLI's ETH key imports with its address", imported)
    imported = alephd("key", "import", os.path.join(WORK, "solana.key"), "--name", "sol", "--kind", "sol")
    check(imported["address"] == sol_address, "the aleph CLI's SOL key imports with its address", imported)

    with open(os.path.join(WORK, "note.txt"), "wb") as f:
        f.write(b"stored by the alephd CLI\n" * 1000)
    made = [
        ("ETH POST", ["post", "create", "--key", "eth", "--type", "crosscheck",
                      "--content", '{"body":"signed by alephd"}']),
        ("SOL POST", ["post", "create", "--key", "sol", "--type", "crosscheck",
                      "--content", '{"body":"signed by alephd with solana"}']),
        ("SOL AGGREGATE", ["aggregate", "set", "crosscheck", "--key", "sol", "--content", '{"a":1}']),
        ("ETH STORE", ["file", "add", os.path.join(WORK, "note.txt"), "--key", "eth"]),
    ]
    hashes = {}
    for what, args in made + [("ETH FORGET", None)]:
        # The FORGET comes last: a forgotten message is served without its content.
        if args is None:
            args = ["message", "forget", hashes["ETH POST"], "--key", "eth"]
        result = alephd(*args)
        hashes[what] = result["item_hash"]
        check(result["status"] == "processed", f"{what} processed by the node", result)
        message = raw_message(result["item_hash"])
        parsed = parse_message(message)
        check(parsed.item_hash == result["item_hash"] and parsed.type.value == what.split()[1],
              f"{what} parses with the aleph-message models", type(parsed).__name__)
        if message.get("item_type") == "inline":
            check(hashlib.sha256(message["item_content"].encode()).hexdigest() == message["item_hash"],
                  f"{what} item_hash is the sha256 of its content")
        check(verifies(message), f"{what} signature verifies with aleph-sdk-python")
        check(not verifies(tampered(message)), f"a tampered {what} does not verify")
    print("CLI CROSSCHECK OK", flush=True)


if __name__ == "__main__":
    main()
