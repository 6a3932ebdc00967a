"""`make bench`: every ``bench/bench_*.py`` module's ``run()`` returns flat ``{key: number}``.

Results are merged into docs/results/bench.json: flat top-level keys with numbers, plus
one key ``machine`` describing the machine. Benchmarks measure; they never assert a speed.
"""
