#!/usr/bin/env python3
"""Verdict of a scripts/chaos run: compares every line written with every line delivered.

    scripts/chaos-verify.py DIR [--seed N] [--profile NAME]

DIR is a chaos work directory (scripts/chaos --keep leaves one). It holds logs/ (every file
the writers produced; nothing is deleted), out/ (the endpoint's S3-layout objects),
records.jsonl (every record the endpoint accepted, in order) and snap/ (after kill k, the
endpoint's accepted count and a copy of the checkpoint file).

Checks, all of which must hold for PASS:
  - missing: a line written but never delivered;
  - unexpected: a line delivered that was never written (torn or merged lines);
  - checkpoint violations: a saved checkpoint covering a line the endpoint had not accepted
    when the daemon was killed (the one invariant that, broken, loses data);
  - duplicates above their bound: per kill, the lines accepted but not yet covered by the
    saved checkpoint (a restart may send them again), plus records whose request was reset
    after delivery (the daemon never learnt they arrived).

Lines are keyed by SHA-256 (the endpoint logs the same digest), so memory is about 100 bytes
per line. Each file is hashed once; a checkpoint is then checked in O(log lines) through a
prefix maximum of "when was each line first accepted", which is what makes an hour-long run
(11 M lines, 66 kills) verify in minutes rather than hours.
"""

import argparse
import bisect
import collections
import gzip
import hashlib
import json
import os
import sys

NEVER = float("inf")


def read_written(logs):
    """Every log file: its line digests, line end offsets, and the multiset of all lines."""
    files, written, torn = {}, collections.Counter(), 0
    for root, _, names in os.walk(logs):
        for name in sorted(names):
            path = os.path.join(root, name)
            data = open(path, "rb").read()
            ends, digests, start = [], [], 0
            while True:
                nl = data.find(b"\n", start)
                if nl < 0:
                    break
                d = hashlib.sha256(data[start : nl + 1]).digest()
                digests.append(d)
                ends.append(nl + 1)
                written[d] += 1
                start = nl + 1
            torn += start != len(data)
            files[os.stat(path).st_ino] = (path, ends, digests)
    return files, written, torn


def read_delivered(out):
    delivered, objects = collections.Counter(), 0
    for root, _, names in os.walk(out):
        for name in names:
            raw = open(os.path.join(root, name), "rb").read()
            if name.endswith(".gz"):
                raw = gzip.decompress(raw)
            objects += 1
            start = 0
            while True:
                nl = raw.find(b"\n", start)
                if nl < 0:
                    break
                delivered[hashlib.sha256(raw[start : nl + 1]).digest()] += 1
                start = nl + 1
    return delivered, objects


def read_accepted(path):
    """Acceptance order (digests) and how many records were reset after delivery."""
    order, reset_after = [], 0
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            order.append(bytes.fromhex(r["sha256"]))
            reset_after += r["outcome"] == "reset_after_delivery"
    return order, reset_after


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--seed", default="?")
    ap.add_argument("--profile", default="?")
    args = ap.parse_args()
    work = args.dir
    snap = os.path.join(work, "snap")
    kills = sum(1 for n in os.listdir(snap) if n.endswith(".accepted")) if os.path.isdir(snap) else 0

    files, written, torn = read_written(os.path.join(work, "logs"))
    delivered, objects = read_delivered(os.path.join(work, "out"))
    order, reset_after = read_accepted(os.path.join(work, "records.jsonl"))

    missing = sum(max(0, n - delivered[d]) for d, n in written.items())
    duplicates = sum(max(0, delivered[d] - n) for d, n in written.items())
    unexpected = sum(n for d, n in delivered.items() if d not in written)
    unique_lines = all(n == 1 for n in written.values())
    examples = []
    for path, ends, digests in files.values():
        for i, d in enumerate(digests):
            if len(examples) < 5 and delivered[d] < written[d]:
                examples.append(f"{path} line {i + 1}")

    first_accept = {}
    for i, d in enumerate(order):
        first_accept.setdefault(d, i)
    # For each file, the latest "first accepted at" over every line up to and including i: a
    # checkpoint covering lines [0, i] is sound at a kill with n accepted iff this is < n.
    prefix_max = {}
    for ino, (_, _, digests) in files.items():
        m, acc = -1, []
        for d in digests:
            m = max(m, first_accept.get(d, NEVER))
            acc.append(m)
        prefix_max[ino] = acc

    # The copytruncate writer's live file was truncated in place after its lines were copied:
    # it no longer holds the bytes its old checkpoints covered.
    live = os.path.join(work, "logs", "copytruncate", "access.log")
    live_truncated = os.stat(live).st_ino if os.path.exists(live) else None

    distinct_seen, upto, per_kill, violations = set(), 0, [], []
    for k in range(1, kills + 1):
        n = int(open(os.path.join(snap, f"kill-{k}.accepted")).read().strip() or 0)
        while upto < min(n, len(order)):
            distinct_seen.add(order[upto])
            upto += 1
        ckpt = json.load(open(os.path.join(snap, f"kill-{k}.checkpoints.json")))
        covered = set() if not unique_lines else None
        covered_count = 0
        for e in ckpt.get("checkpoints", []):
            if e["offset"] == 0 or e["inode"] == live_truncated:
                continue
            entry = files.get(e["inode"])
            if entry is None:
                violations.append(f"kill {k}: checkpoint for inode {e['inode']} ({e['path']}) but no such file")
                continue
            path, ends, digests = entry
            size = os.path.getsize(path)
            if e["offset"] > size:
                violations.append(f"kill {k}: {path} checkpointed at {e['offset']} but only {size} bytes")
                continue
            lines = bisect.bisect_right(ends, e["offset"])
            if lines and prefix_max[e["inode"]][lines - 1] >= n:
                bad = next(i for i in range(lines) if first_accept.get(digests[i], NEVER) >= n)
                violations.append(
                    f"kill {k}: {path} offset {e['offset']} covers line {bad + 1}, not accepted by then"
                )
            covered_count += lines
            if covered is not None:
                covered.update(digests[:lines])
        if covered is None:
            # Every written line is distinct (the writers number them), and a sound checkpoint
            # covers only accepted lines, so the overlap is simply the number covered.
            per_kill.append(max(0, len(distinct_seen) - covered_count))
        else:
            per_kill.append(len(distinct_seen - covered))
    bound = sum(per_kill) + reset_after

    report = {
        "profile": args.profile, "seed": args.seed, "kills": kills, "files": len(files),
        "lines_written": sum(written.values()), "lines_delivered": sum(delivered.values()),
        "objects": objects, "missing": missing, "duplicates": duplicates,
        "unexpected": unexpected, "torn_files": torn,
        "records_accepted": len(order), "reset_after_delivery": reset_after,
        "duplicate_bound": bound, "resendable_per_kill": per_kill,
        "checkpoint_violations": len(violations),
    }
    json.dump(report, open(os.path.join(work, "chaos-report.json"), "w"), indent=1)
    print(json.dumps({k: v for k, v in report.items() if k != "resendable_per_kill"}))
    for v in violations[:10]:
        print("VIOLATION", v)
    for e in examples:
        print("MISSING", e)
    ok = missing == 0 and unexpected == 0 and not violations and duplicates <= bound and torn == 0
    print("chaos verdict:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
