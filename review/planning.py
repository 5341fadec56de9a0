"""The planner process of `review diff` (review/plan_pair.py), started before anything else the diff imports.

The planner spends its first ~0.4 s importing the SDKs; the diff's own process meanwhile imports its modules and
exports the base revision. Every millisecond before the planner starts is on the diff's critical path, so this
module imports only what starting a process needs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Set only for `review diff`'s planning: a random key that makes equal secrets show equal fingerprints within that
# diff, so a changed secret is reported as "changed" without its value (review/plan.py _secret_display).
FINGERPRINT_ENV = "ESTATE_SECRET_FINGERPRINT_KEY"
# Set for `review diff`'s planning: `--format json` without indentation (review/plan.py render_json). The diff reads
# the plans, no person does, and the indenting encoder is Python's own, ~7x slower than the compact one (0.1 s a
# plan at 50 apps). A base revision from before this setting ignores it.
COMPACT_JSON_ENV = "REVIEW_PLAN_COMPACT_JSON"


def start_planning() -> subprocess.Popen[bytes]:
    """Start the planner in the background with a fresh fingerprint key: it imports the SDKs, then plans the trees
    named on its stdin, for the stack named there too (review/diff.py `_send_trees`, `_finish_planning`).

    It leads a process group of its own, with the children it forks: stopping the planning early
    (review/diff.py `_stop_planning`) stops them all, and a Ctrl-C reaches this process, which does that.
    """
    script = Path(__file__).with_name("plan_pair.py")
    env = {**os.environ, FINGERPRINT_ENV: os.urandom(32).hex(), COMPACT_JSON_ENV: "1"}  # the key: never shown
    return subprocess.Popen(
        [sys.executable, str(script), "-"], env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        **({"process_group": 0} if os.name == "posix" else {}),
    )
