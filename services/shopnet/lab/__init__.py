"""Troubleshooting labs: a fault planted in the running stack, hints, and a checker.

`validate` checks the topology's expectations on any running stack (the main path and
an order work through the published port, the cache answers, the isolation matrix is
the topology's, p99 within a bound); a lab (`catalog`) plants one fault whose symptom
a user would report, and `check` is `validate` with the bound measured on the same
stack before the fault was planted. Judging behaviour, never the commands typed, is
what Kathará's checker and netlab's `validate` do.
"""
