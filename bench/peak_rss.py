"""Run a command and print its peak RSS in KiB on the last line of stderr.

A child inherits its parent's peak-RSS record across fork and exec on Linux, so the benchmark
(a big process) starts its commands through this small one to get figures of their own.
"""

import os
import subprocess
import sys

proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
print(f"peak_rss_kib={usage.ru_maxrss}", file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
