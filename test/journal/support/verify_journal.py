"""An independent journal verifier, to show the format can be checked without our code.

Recomputes each line's hash as documented in src/journal/journal-line.ts: SHA-256 over the
canonical JSON (RFC 8785) of the line's members other than "hash". Python's json.dumps with sorted
keys, no whitespace and ensure_ascii=False produces the same bytes for the data the tests use
(JCS sorts keys by UTF-16 code units, Python by code points: they differ only for keys mixing
astral characters with U+E000..U+FFFF). Prints "ok <entries> <last hash>" or "broken <line> <why>".
"""
import hashlib
import json
import sys

GENESIS = "sha256:" + "0" * 64


def main(path):
    prev_hash, prev_seq, count = GENESIS, 0, 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                print(f"torn {number}")
                return 2
            line = json.loads(raw.decode("utf-8"))
            claimed = line.pop("hash")
            text = json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            actual = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
            if actual != claimed:
                print(f"broken {number} hash")
                return 1
            if line["seq"] != prev_seq + 1 or line["prev"] != prev_hash:
                print(f"broken {number} chain")
                return 1
            prev_hash, prev_seq, count = claimed, line["seq"], count + 1
    print(f"ok {count} {prev_hash}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
