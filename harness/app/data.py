"""`harness data ...`: bring the real datasets into the folder `data.path` reads, and check it.

    harness data split /data/MathV360K/train_samples_all_tuning.json /data/mstar   # -> /data/mstar/mathv360k/
    harness data mathvista /data/MathVista /data/mstar                            # -> /data/mstar/mathvista/
    harness data check /data/mstar                                                # the pre-flight; exit 2 if unusable
"""
from __future__ import annotations

import json

from harness.data.checks import check_folder, format_report
from harness.data.convert import split_mathv360k, write_mathvista


def split(args) -> int:
    summary = split_mathv360k(args.source, args.out, args.seed, args.test_id, args.val, args.image_root)
    print(json.dumps(summary, indent=2))
    return 0


def mathvista(args) -> int:
    print(json.dumps(write_mathvista(args.source, args.out), indent=2))
    return 0


def check(args) -> int:
    reports = check_folder(args.folder, decode_images=not args.no_decode)
    print(format_report(reports, args.list))
    return 0 if all(r.ok for r in reports) else 2
