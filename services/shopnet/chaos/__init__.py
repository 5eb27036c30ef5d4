"""`shopnet chaos`: scripted faults under load against the running stack, recovery measured.

scenarios.py  the faults: kill -9 an instance, SIGTERM, loss or a rate on a tier
load.py       our asyncio load generator (bounded), Idempotency-Key per order
faults.py     inject and lift a fault; wait until the stack is healthy again
measure.py    the maths: failed, first success, back within 10% (pure)
verify.py     every acknowledged order stored, none twice
runner.py     one scenario: load, fault, lift, check, heal
results.py    what a scenario measured
report.py     text table, Markdown, JSON
chart.py      the PNG timeline (matplotlib, the `bench` extra; skipped without it)
publish.py    docs/comparison.md's "Recovery, measured" section, from runs
command.py    the CLI verb
"""
