"""bench.readme: the README tables generated from the results files."""

from bench.readme import synth_table


def _row(table: str, name: str) -> str:
    return next(line for line in table.splitlines() if line.startswith(f"| `{name}`"))


def test_synth_table_shows_each_seed_with_min_and_mean():
    report = {"npu_top_fmax_mhz": 112.64, "designs": {
        "lutnpu_top": {"LUT4": 1, "fmax_mhz": 112.64, "crit_ns": 8.88,
                       "fmax_by_seed": {"1": 112.64, "2": 114.18, "3": 104.57},
                       "fmax_mhz_min": 104.57, "fmax_mhz_mean": 110.46},
        "tcm": {"LUT4": 2, "fmax_mhz": 117.58, "crit_ns": 8.51}}}
    table = synth_table(report)
    assert ("| 112.64 (seeds 1, 2, 3: 112.64 / 114.18 / 104.57; min 104.57, mean 110.46) | 8.88 |"
            in _row(table, "lutnpu_top"))
    assert _row(table, "tcm").endswith("| 117.58 | 8.51 |")     # one seed: the figure alone
    assert "NpuTop Fmax: 112.64 MHz." in table
