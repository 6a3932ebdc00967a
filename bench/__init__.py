"""`make bench`: every ``bench/bench_*.py`` module's ``run()`` returns flat ``{key: number}``.

Results are merged into docs/results/bench.json (flat keys, numbers) together with a
description of the machine. Benchmarks measure; they never assert a speed.
"""
