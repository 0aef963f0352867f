#!/usr/bin/env python3
"""tools/check-layers.py on small made-up trees: it passes a tree that follows the table and
fails, naming file and line, one with an upward include and one with a folder cycle."""
import pathlib
import shutil
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[2]
CHECK = REPO / "tools/check-layers.py"
TABLE = """controllers/values  bursar_values
controllers/api     bursar_api     controllers/values
controllers/engine  bursar_engine  controllers/api controllers/values
"""


def run(files, table=TABLE):
    root = pathlib.Path(tempfile.mkdtemp())
    try:
        (root / "tools").mkdir()
        (root / "tools/layers.txt").write_text(table)
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        done = subprocess.run([sys.executable, CHECK, root], capture_output=True, text=True)
        return done.returncode, done.stderr
    finally:
        shutil.rmtree(root)


def main():
    failures = []
    good = {"controllers/values/money.h": "#pragma once\n",
            "controllers/api/types.h": '#include "controllers/values/money.h"\n',
            "controllers/engine/policy.h": '#include "controllers/api/types.h"\n'}
    code, err = run(good)
    if code != 0:
        failures.append(f"a layered tree failed: {err}")
    upward = dict(good, **{"controllers/api/types.h": '#include "controllers/values/money.h"\n'
                                                       '#include "controllers/engine/policy.h"\n'})
    code, err = run(upward)
    if code != 1 or "controllers/api/types.h:2: controllers/api may not include" not in err:
        failures.append(f"an upward include was not reported with file:line: {code} {err}")
    if "cycle: controllers/api -> controllers/engine -> controllers/api" not in err:
        failures.append(f"the cycle was not reported: {err}")
    code, err = run(dict(good, **{"controllers/stray/x.h": "\n"}))
    if code != 1 or "controllers/stray is not in tools/layers.txt" not in err:
        failures.append(f"a folder missing from the table was not reported: {err}")
    code, err = run({}, table="")
    if code != 0:
        failures.append(f"an empty tree failed: {err}")
    if subprocess.run([sys.executable, CHECK, REPO], capture_output=True).returncode != 0:
        failures.append("the repository itself breaks its layers (run tools/check-layers.py)")
    for failure in failures:
        print("FAIL:", failure)
    checks = 6  # the layered tree, file:line, the cycle, the stray folder, the empty tree, the repo
    print(f"{checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
