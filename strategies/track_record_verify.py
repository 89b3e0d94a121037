#!/usr/bin/env python3
"""Check a strategy's public track record from its JSON export alone: no signal altered, reordered or removed.

    python strategies/track_record_verify.py track-record.json [--head HEX]

Needs Python 3 and the ``cryptography`` package, nothing else (not this project).
For each signal, in the export's order:

1. its ``payload`` (canonical JSON: keys sorted, no spaces, UTF-8) must carry
   ``previous`` equal to the hash of the signal before it (the first one:
   ``genesis``, 64 zeros);
2. its ``signature`` must be the strategy's Ed25519 signature of those bytes,
   under the export's ``public_key`` (compare it with the key the strategy's
   page shows, or one you kept);
3. its hash is SHA-256 of the payload bytes, a newline and the signature (hex),
   and must equal the ``hash`` the export gives.

The last hash must equal the export's ``head``, and the head you hold from
elsewhere (``--head``: the one in a daily summary email, say): a signal
removed from the end leaves a valid but shorter chain whose head is one you
never received. Exit status 0 when everything holds, 1 with the first problem.
"""

import argparse
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def link(payload_bytes, signature_hex):
    return hashlib.sha256(payload_bytes + b"\n" + signature_hex.encode("ascii")).hexdigest()


def verify(export, head=None):
    """Return (True, summary) or (False, the first problem found)."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(export["public_key"]))
    except (KeyError, ValueError):
        return False, "the export has no valid public key"
    previous = export.get("genesis", "0" * 64)
    for number, entry in enumerate(export.get("signals", []), start=1):
        payload = entry.get("payload", {})
        where = f"signal {number} (id {payload.get('id')})"
        if payload.get("previous") != previous:
            return False, f"{where}: does not follow the signal before it (removed, added or reordered)"
        data = canonical(payload)
        try:
            key.verify(bytes.fromhex(entry.get("signature", "")), data)
        except (InvalidSignature, ValueError):
            return False, f"{where}: the signature does not match its fields (altered)"
        previous = link(data, entry["signature"])
        if entry.get("hash") != previous:
            return False, f"{where}: its hash is not the hash of its fields and signature"
    if previous != export.get("head"):
        return False, "the last signal is not the head the export publishes (signals removed from the end)"
    if head is not None and previous != head:
        return False, "the chain does not end at the head you hold (signals removed or replaced)"
    return True, f"{len(export.get('signals', []))} signals, head {previous}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", help="the track record's JSON export")
    parser.add_argument("--head", help="a chain head you hold from elsewhere (a daily summary email)")
    args = parser.parse_args(argv)
    try:
        with open(args.export, encoding="utf-8") as handle:
            export = json.load(handle)
    except (OSError, ValueError) as error:
        print(f"FAIL: cannot read {args.export}: {error}")
        return 1
    ok, message = verify(export, head=args.head)
    print(("OK: " if ok else "FAIL: ") + message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
